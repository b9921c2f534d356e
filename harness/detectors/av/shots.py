"""Shot cuts, so a face track never runs across an edit.

The metric is PySceneDetect's ContentDetector in its luma-only mode: the mean absolute luma
difference between consecutive frames, on a 64 x 36 thumbnail of the shared analysis plane
(which averages away capture noise and MJPEG ringing, and costs no colour conversion). A cut is a
frame whose score passes ``threshold`` (ContentDetector's default, 27), at least ``min_shot_s``
after the previous one, so a flash or fast motion does not cut a shot into pieces too short to
score. On Megamind the three cuts score 41-44 and nothing inside a shot passes 4. A cut between
two shots of the same brightness is missed; the face tracker then still splits the tracks when
the faces move, as they do across nearly every cut.
"""

from __future__ import annotations

import cv2
import numpy as np

THUMBNAIL = (64, 36)


class ShotCuts:
    """Feed frames in order; ``update`` says whether each one starts a new shot."""

    def __init__(self, threshold: float = 27.0, min_shot_s: float = 0.5) -> None:
        self.threshold = threshold
        self.min_shot_s = min_shot_s
        self.score = 0.0  #: the last frame's content score (kept for evidence and tuning)
        self._previous: np.ndarray | None = None
        self._shot_start = -np.inf

    def update(self, luma: np.ndarray, time: float) -> bool:
        thumb = cv2.resize(luma, THUMBNAIL, interpolation=cv2.INTER_AREA).astype(np.int16)
        previous, self._previous = self._previous, thumb
        if previous is None:
            self._shot_start = time
            return False
        self.score = float(np.abs(thumb - previous).mean())
        if self.score < self.threshold or time - self._shot_start < self.min_shot_s:
            return False
        self._shot_start = time
        return True
