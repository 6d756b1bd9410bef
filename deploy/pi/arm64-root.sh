#!/usr/bin/env bash
# Builds (once) an arm64 Debian 12 root, the base of Raspberry Pi OS (bookworm), that this x86
# machine runs under qemu user-mode emulation. Used by rehearse-arm64.sh.
#   sudo deploy/pi/arm64-root.sh [ROOT]          default ROOT: /var/tmp/checkpoint-arm64
# Safe to re-run: a finished root (ROOT/.checkpoint-root) is kept.
set -euo pipefail
root=${1:-/var/tmp/checkpoint-arm64}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What Raspberry Pi OS Lite has and the agent needs: Python with venv, zbar, CA certificates.
packages=python3,python3-venv,libzbar0,ca-certificates,adduser,logrotate

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

[ "$(id -u)" -eq 0 ] || { echo "run as root (debootstrap and chroot need it)" >&2; exit 1; }

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
[ -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || command -v qemu-aarch64-static >/dev/null \
    || need+=(qemu-user-static)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

# The kernel must hand aarch64 binaries to qemu (binfmt_misc, with the F flag so it works in a chroot).
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64

if [ -e "$root/.checkpoint-root" ]; then
    say "arm64 root already built in $root"
    exit 0
fi
say "debootstrap --arch=arm64 bookworm into $root (slow: the second stage runs under emulation)"
rm -rf "$root"
debootstrap --arch=arm64 --variant=minbase --include="$packages" bookworm "$root" "$mirror"
chroot "$root" /usr/bin/uname -m | grep -qx aarch64
touch "$root/.checkpoint-root"
say "arm64 root ready in $root"
