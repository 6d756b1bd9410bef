#!/usr/bin/env bash
# Sets up a development machine (Debian 12 / Ubuntu / Raspberry Pi OS): system packages, the
# PostgreSQL role the tests use, and the project's virtual environment in .venv.
#   deploy/dev/setup.sh demo   what the demo needs (Mosquitto, zbar, Python packages)
#   deploy/dev/setup.sh test   the same, plus Chromium, PostgreSQL, ffmpeg, GStreamer's RTSP server
#                              and espeak-ng for the tests
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-demo}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else echo "need root for: $*  (run it as root, or install sudo)" >&2; return 1; fi
}

need=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
ldconfig -p 2>/dev/null | grep -q libzbar.so.0 || need+=(libzbar0)
if [ "$mode" = test ]; then
    command -v chromium >/dev/null || need+=(chromium)
    command -v psql >/dev/null || need+=(postgresql)
    # Cameras served by servers we did not write (GStreamer's RTSP server, ffmpeg's MJPEG server), and
    # espeak-ng for the kiosk's spoken prompts.
    command -v ffmpeg >/dev/null || need+=(ffmpeg)
    command -v espeak-ng >/dev/null || need+=(espeak-ng)
    /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0")' 2>/dev/null \
        || need+=(python3-gi gir1.2-gst-rtsp-server-1.0)
    [ -n "$(find /usr/lib -name libgstx264.so -print -quit 2>/dev/null)" ] \
        || need+=(gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly)
fi
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    say "installing system packages: ${need[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

if [ "$mode" = test ]; then
    if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        say "starting PostgreSQL"
        as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start \
            || as_root service postgresql start
    fi
    # The tests connect as checkpoint/checkpoint over TCP; create that role once (peer auth as postgres).
    if ! PGPASSWORD=checkpoint psql -h 127.0.0.1 -U checkpoint -d postgres -tAc 'select 1' >/dev/null 2>&1; then
        say "creating the PostgreSQL role the tests use"
        as_root runuser -u postgres -- psql -q -c \
            "DO \$\$BEGIN CREATE ROLE checkpoint LOGIN CREATEDB PASSWORD 'checkpoint';
             EXCEPTION WHEN duplicate_object THEN ALTER ROLE checkpoint LOGIN CREATEDB PASSWORD 'checkpoint'; END\$\$;"
    fi
fi

python=$(command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "Python 3.11 or newer is needed; found $("$python" --version)" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
    say "creating the virtual environment in .venv"
    "$python" -m venv .venv
fi
stamp=.venv/.installed-$mode
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "installing the project and its Python packages"
    .venv/bin/python -m pip install -q --upgrade pip
    extras=$([ "$mode" = test ] && echo "[test,bench]" || echo "")
    .venv/bin/python -m pip install -q -e ".$extras"
    touch "$stamp"
fi
if command -v espeak-ng >/dev/null && [ ! -f agent/kiosk/static/voice/pass.wav ]; then
    say "the kiosk's spoken prompts (espeak-ng)"
    .venv/bin/python -m agent.kiosk.voice >/dev/null
fi
say "ready"
