#!/usr/bin/env bash
# Installs the system packages Lockstep builds against, if missing: liburing-dev and libpcap-dev
# (CShims), pkg-config, libcurl (the CLI's HTTP client; the -dev package for static links by
# make install); curl and python3 for the test scripts. With --test also chromium and
# chromium-driver, for the dashboard's browser test, pyxdf (PyPI), for the XDF export test, and
# libfuse2 with fusepy (PyPI), for the slow-disk test's FUSE filesystem. Idempotent; quiet when all is there.
set -euo pipefail
packages=(liburing-dev libpcap-dev pkg-config libcurl4 libcurl4-openssl-dev)
[ "${1:-}" = "--test" ] && packages+=(chromium chromium-driver libfuse2)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# Tools the end-to-end test scripts run (any install of them will do, e.g. a pyenv python3).
for tool in curl python3; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
# The export test reads XDF files with pyxdf, from PyPI.
if [ "${1:-}" = "--test" ] && ! python3 -c "import pyxdf" 2>/dev/null; then
    echo "installing pyxdf (PyPI) for the XDF export test"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore pyxdf
fi
if [ "${1:-}" = "--test" ] && ! python3 -c "import fuse" 2>/dev/null; then
    echo "installing fusepy (PyPI) for the slow-disk test"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore fusepy
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
    echo "error: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
fi
if ! command -v swift >/dev/null; then
    echo "error: the Swift toolchain (6.2 or later) is not on PATH; install it from swift.org first" >&2
    exit 1
fi
