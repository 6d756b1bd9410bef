#!/usr/bin/env bash
# Installs the checkpoint agent on a Raspberry Pi OS (bookworm, arm64) box, from a provisioning
# bundle. Run as root on the box, from a copy of this repository (or its deploy/ folder):
#   sudo deploy/pi/install.sh --bundle box-1.tar.gz --wheel releases/0.1.0/checkpoint_station-0.1.0-py3-none-any.whl
#       (a wheel in a release that `checkpoint release build` made installs from that release only, offline;
#        a wheel alone fetches what it needs from PyPI)
#   sudo deploy/pi/install.sh --bundle box-1.tar.gz --source /path/to/checkout      (builds it here)
# Options: --kiosk-url URL (default http://127.0.0.1:8000/), --no-kiosk (no Chromium, no autostart).
# What it does: system packages; a `checkpoint` user in the dialout and video groups; the first release
# in its own virtual environment /opt/checkpoint/releases/<version>, linked as /opt/checkpoint/current
# (later releases come through central: docs/deploy.md); the bundle in /etc/checkpoint (0600, the user's);
# the systemd unit, udev rules, journald and logrotate settings; Chromium in kiosk mode at login
# (started again whenever it exits) and the kiosk's spoken prompts (espeak-ng).
# Safe to run again (a new bundle replaces the old one; the outbox in /var/lib/checkpoint is kept).
# In a chroot (no systemd running) it installs everything but starts nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)   # the deploy/ folder
bundle="" wheel="" source="" kiosk=1 kiosk_url="http://127.0.0.1:8000/"
while [ $# -gt 0 ]; do
    case $1 in
        --bundle) bundle=$2; shift 2 ;;
        --wheel) wheel=$2; shift 2 ;;
        --source) source=$2; shift 2 ;;
        --kiosk-url) kiosk_url=$2; shift 2 ;;
        --no-kiosk) kiosk=0; shift ;;
        *) echo "unknown option $1 (see the top of $0)" >&2; exit 2 ;;
    esac
done
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
[ "$(id -u)" -eq 0 ] || { echo "run as root: sudo $0 ..." >&2; exit 1; }
[ -f "$bundle" ] || { echo "--bundle: give the box's .tar.gz from 'checkpoint provision'" >&2; exit 2; }
[ -n "$wheel$source" ] || { echo "give --wheel FILE or --source DIR" >&2; exit 2; }
systemd_running() { [ -d /run/systemd/system ]; }

packages=(python3 python3-venv libzbar0 ca-certificates logrotate)
if [ "$kiosk" = 1 ]; then
    # Raspberry Pi OS ships chromium-browser; on Debian that name exists only as a reference, no package
    if apt-cache show chromium-browser 2>/dev/null | grep -q '^Version:'; then packages+=(chromium-browser)
    else packages+=(chromium); fi
    packages+=(espeak-ng)   # the kiosk's spoken prompts are made from it once, below
    packages+=(curl)        # checkpoint-kiosk waits with it for the agent's page (a minimal system has none)
fi
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

say "the checkpoint user (groups dialout, video)"
id checkpoint >/dev/null 2>&1 || useradd --system --user-group --home-dir /var/lib/checkpoint \
    --shell /usr/sbin/nologin checkpoint
usermod -a -G dialout,video checkpoint
getent group gpio >/dev/null && usermod -a -G gpio checkpoint   # the gate relay (Raspberry Pi OS)

if [ -n "$wheel" ]; then version=$(basename "$wheel" | cut -d- -f2)
else version=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' \
    "$source/pyproject.toml"); fi
release=/opt/checkpoint/releases/$version
say "release $version in $release, linked as /opt/checkpoint/current"
install -d -m 0755 -o checkpoint -g checkpoint /opt/checkpoint /opt/checkpoint/releases
if [ ! -f "$release/.complete" ]; then   # the same marker the box's own updates write last
    rm -rf "$release"
    python3 -m venv "$release"
    if [ -n "$wheel" ] && [ -f "$(dirname "$wheel")/manifest.json" ]; then
        # a release from `checkpoint release build`: every wheel it needs is beside it, for this platform
        "$release/bin/python" -m pip install -q --no-index --find-links "$(dirname "$wheel")" "$wheel"
    else
        "$release/bin/python" -m pip install -q --upgrade pip
        "$release/bin/python" -m pip install -q "$wheel$source"
    fi
    echo "$version" > "$release/.complete"
fi
ln -sfn "releases/$version" /opt/checkpoint/.current.tmp && mv -T /opt/checkpoint/.current.tmp /opt/checkpoint/current

say "the bundle in /etc/checkpoint"
unpack=$(mktemp -d)
trap 'rm -rf "$unpack"' EXIT
tar -xzf "$bundle" -C "$unpack"
box_dir=$(find "$unpack" -mindepth 1 -maxdepth 1 -type d | head -n1)
[ -f "$box_dir/agent.yaml" ] || { echo "$bundle holds no agent.yaml" >&2; exit 2; }
install -d -m 0750 -o root -g checkpoint /etc/checkpoint
for f in "$box_dir"/*; do install -m 0600 -o checkpoint -g checkpoint "$f" /etc/checkpoint/; done
install -d -m 0700 -o checkpoint -g checkpoint /var/lib/checkpoint
install -d -m 0750 -o checkpoint -g checkpoint /var/log/checkpoint

say "systemd unit, udev rules, journald and logrotate settings"
install -D -m 0644 "$here/systemd/checkpoint-agent.service" /etc/systemd/system/checkpoint-agent.service
install -D -m 0644 "$here/udev/99-checkpoint.rules" /etc/udev/rules.d/99-checkpoint.rules
install -D -m 0644 "$here/journald/checkpoint.conf" /etc/systemd/journald.conf.d/checkpoint.conf
install -D -m 0644 "$here/logrotate/checkpoint" /etc/logrotate.d/checkpoint

if [ "$kiosk" = 1 ]; then
    say "kiosk: Chromium full screen on $kiosk_url at login"
    install -D -m 0755 "$here/kiosk/checkpoint-kiosk" /usr/local/bin/checkpoint-kiosk
    mkdir -p /etc/xdg/autostart
    desktop_user=$(getent passwd 1000 | cut -d: -f1 || true)   # the box's first user logs in to the desktop
    [ -z "$desktop_user" ] || install -d -m 0750 -o "$desktop_user" /var/log/checkpoint/kiosk
    sed "s|@KIOSK_URL@|$kiosk_url|" "$here/kiosk/checkpoint-kiosk.desktop" > /etc/xdg/autostart/checkpoint-kiosk.desktop
    say "kiosk: the spoken prompts (espeak-ng, Mandarin)"
    /opt/checkpoint/current/bin/python -m agent.kiosk.voice >/dev/null
fi
chown -R checkpoint:checkpoint /opt/checkpoint   # the supervisor installs and switches releases as this user

if systemd_running; then
    say "starting the agent"
    systemctl daemon-reload
    systemctl restart systemd-journald
    udevadm control --reload && udevadm trigger --subsystem-match=tty --subsystem-match=video4linux
    systemctl enable --now checkpoint-agent.service
else
    say "no systemd running here (a chroot?): installed, not started"
fi
say "done. Check the hardware with: sudo -u checkpoint /opt/checkpoint/current/bin/checkpoint doctor"
