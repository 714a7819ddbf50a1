#!/usr/bin/env bash
# Installs every Debian 12 package facetwin needs, as root, on a fresh machine.
#   deploy/install-deps.sh            build + test dependencies (what CI needs)
#   deploy/install-deps.sh --bench    also the benchmark peers and extra datasets
#                                     (python3-torch, tcmalloc, Fashion-MNIST)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

BUILD_PKGS=(build-essential cmake pkg-config git ca-certificates
  libopenblas-dev libcjson-dev libpng-dev libjpeg62-turbo-dev zlib1g-dev
  libssl-dev libcmocka-dev libmicrohttpd-dev libsqlite3-dev libpq-dev chromium fonts-dejavu-core
  curl python3 python3-yaml python3-jsonschema wrk)
BENCH_PKGS=(python3 python3-numpy python3-torch libtcmalloc-minimal4 dataset-fashion-mnist time)

pkgs=("${BUILD_PKGS[@]}")
for a in "$@"; do
  case "$a" in
    --bench) pkgs+=("${BENCH_PKGS[@]}") ;;
    *) echo "install-deps.sh: unknown option '$a'" >&2; exit 2 ;;
  esac
done

# npm (for the OpenAPI linter): Debian's nodejs + npm, unless a Node.js with npm is already there
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "install-deps.sh: all packages present"
