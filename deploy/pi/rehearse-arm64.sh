#!/usr/bin/env bash
# Rehearses a box install on the boxes' CPU (aarch64) on this x86 machine, under qemu user-mode
# emulation: builds an arm64 Debian 12 root (arm64-root.sh, kept between runs), installs the agent
# in it with install.sh from a bundle that `checkpoint provision` made, runs `checkpoint doctor`
# against the device simulators there, and runs the agent against the production broker and central
# (both on this machine) until its verdicts are stored, signed. Proof that every dependency installs
# and works on arm64. Slow (minutes): not part of `make test`.
#   sudo deploy/pi/rehearse-arm64.sh [ROOT]        ROOT default /var/tmp/checkpoint-arm64
# Needs the project's .venv (deploy/dev/setup.sh test) and network access to Debian and PyPI.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
root=${1:-/var/tmp/checkpoint-arm64}
work=$(mktemp -d /var/tmp/checkpoint-rehearsal.XXXXXX)
chmod 0711 "$work"   # the broker (user mosquitto) reads its files in here
start=$(date +%s)

"$repo/deploy/pi/arm64-root.sh" "$root"
root_done=$(date +%s)

mounted=()
cleanup() {
    for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
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
cp -L /etc/resolv.conf "$root/etc/resolv.conf"   # pip in the root reaches PyPI
# Trust inside the root what this machine trusts (a company CA, a proxy that re-signs TLS), and let
# pip use the system's list rather than its own.
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
