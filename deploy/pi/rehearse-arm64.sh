#!/usr/bin/env bash
# Rehearses a box install and a box update on the boxes' CPU (aarch64) on this x86 machine, under qemu
# user-mode emulation: builds an arm64 Debian 12 root (arm64-root.sh, kept between runs); builds release 1
# for arm64 (`checkpoint release build --platform arm64`) and installs it in the root with install.sh
# from a bundle that `checkpoint provision` made; runs `checkpoint doctor` against the device simulators
# there; runs `checkpoint supervise` (as systemd would) against the production broker and central (both
# on this machine) until its verdicts are stored, signed; then builds release 2, has central take it in
# and roll it out to the box, which downloads, checks, installs and switches to it, and checks that every
# verdict before and after the switch is stored once. Proof that every dependency installs and works on
# arm64 and that a box updates itself. Slow (15-25 minutes): not part of `make test`.
#   sudo deploy/pi/rehearse-arm64.sh [ROOT]        ROOT default /var/tmp/checkpoint-arm64
# Needs the project's .venv (deploy/dev/setup.sh test) and network access to Debian (the root's packages)
# and PyPI (the releases' wheels, fetched on this machine). The last run's logs stay in
# /var/tmp/checkpoint-rehearsal-logs.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
root=${1:-/var/tmp/checkpoint-arm64}
work=$(mktemp -d /var/tmp/checkpoint-rehearsal.XXXXXX)
chmod 0711 "$work"   # the broker (user mosquitto) reads its files in here
start=$(date +%s)

"$repo/deploy/pi/arm64-root.sh" "$root"
root_done=$(date +%s)

mounted=()
logs=/var/tmp/checkpoint-rehearsal-logs   # the last run's box.log (supervisor and agents) and central.log
cleanup() {
    for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
    rm -rf "$logs" && mkdir -p "$logs" && cp "$work"/*.log "$logs"/ 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
for fs in proc sys dev dev/pts dev/shm; do   # dev/shm: Chromium (the kiosk) needs it
    mountpoint -q "$root/$fs" && continue
    case $fs in
        proc) mount -t proc proc "$root/proc" ;;
        *) mount --bind "/$fs" "$root/$fs" ;;
    esac
    mounted+=("$root/$fs")
done
cp -L /etc/resolv.conf "$root/etc/resolv.conf"   # apt in the root reaches Debian
# Trust inside the root what this machine trusts (a company CA, a proxy that re-signs TLS), and let
# pip use the system's list rather than its own (install.sh given a lone wheel fetches from PyPI).
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null
fi
export PIP_CERT=/etc/ssl/certs/ca-certificates.crt

"$repo/.venv/bin/python" "$repo/deploy/pi/rehearse.py" --root "$root" --work "$work" --repo "$repo"
end=$(date +%s)
printf 'arm64 root: %ss (0 when kept from an earlier run); install and run: %ss; total %ss\n' \
    $((root_done - start)) $((end - root_done)) $((end - start))
