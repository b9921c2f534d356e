#!/usr/bin/env bash
# A PulseAudio server with one null sink, for testing audio capture on a machine without sound
# hardware (CI, containers). Its monitor, nullsink.monitor, becomes the default source, so
# PortAudio's "pulse" or "default" device records whatever is played into the sink
# (e.g. `paplay --latency-msec=20 stimulus.wav`).
#
#   scripts/audio-server.sh start    start it unless one already answers (idempotent)
#   scripts/audio-server.sh stop     stop it if running (idempotent)
#   scripts/audio-server.sh status   exit 0 when a server answers
#
# Works as root (CI containers): -n skips the default config, which would look for hardware,
# and the anonymous-auth socket lets any client in. Needs apt packages pulseaudio,
# pulseaudio-utils, libportaudio2 and libasound2-plugins (the ALSA "pulse" device PortAudio sees).
set -euo pipefail

STATE_DIR="${HARNESS_AUDIO_STATE_DIR:-${TMPDIR:-/tmp}/harness-audio-server}"
CONFIG="$STATE_DIR/null-sink.pa"
LOG="$STATE_DIR/pulseaudio.log"
WAIT_S=10

say() { echo "audio-server: $*"; }

require() {
    if ! command -v "$1" >/dev/null 2>&1; then
        say "'$1' not found; install it: apt-get install pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins" >&2
        exit 2
    fi
}

answers() { pactl info >/dev/null 2>&1; }

start() {
    require pulseaudio
    require pactl
    if answers; then
        say "already running ($(pactl info | sed -n 's/^Server String: //p'))"
        return 0
    fi
    mkdir -p "$STATE_DIR"
    # rate=48000: the harness records at 48 kHz, so nothing between stimulus and capture resamples.
    cat >"$CONFIG" <<'EOF'
load-module module-native-protocol-unix auth-anonymous=1
load-module module-null-sink sink_name=nullsink rate=48000
EOF
    # --log-target=file: the daemon's stderr is gone once it forks, and a failed start must be
    # explainable from the CI log.
    pulseaudio -n -F "$CONFIG" --daemonize=yes --exit-idle-time=-1 \
        --log-target="file:$LOG" || true
    for _ in $(seq $((WAIT_S * 10))); do
        if answers; then
            say "started: null sink 'nullsink', default source 'nullsink.monitor' (log: $LOG)"
            return 0
        fi
        sleep 0.1
    done
    say "PulseAudio did not answer within ${WAIT_S} s; see $LOG" >&2
    tail -n 20 "$LOG" >&2 2>/dev/null || true
    exit 1
}

stop() {
    if ! command -v pulseaudio >/dev/null 2>&1 || ! answers; then
        say "not running; nothing to stop"
        return 0
    fi
    pulseaudio -k || true
    for _ in $(seq $((WAIT_S * 10))); do
        if ! answers; then
            say "stopped"
            return 0
        fi
        sleep 0.1
    done
    say "PulseAudio still answers ${WAIT_S} s after 'pulseaudio -k'" >&2
    exit 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) answers && say "running" || { say "not running"; exit 1; } ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
