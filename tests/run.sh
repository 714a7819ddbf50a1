#!/usr/bin/env bash
# The whole test suite: configure, build and run every test with CTest.
#   bash tests/run.sh             Release build in build/
#   bash tests/run.sh --sanitize  ASan + UBSan build in build-asan/
# Datasets are found through ../shared (override: FT_SHARED_DIR=/path/to/shared).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build; extra=(-DCMAKE_BUILD_TYPE=Release)
if [ "${1:-}" = "--sanitize" ]; then
  build=build-asan; extra=(-DCMAKE_BUILD_TYPE=Debug -DFT_SANITIZE=ON -DFT_BUILD_BENCH=OFF)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
shared=${FT_SHARED_DIR:-$(cd .. && pwd)/shared}
# the pretrained face-api networks for the parity test (idempotent; npm pack, pinned + checked)
bash deploy/fetch-face-api.sh >/dev/null || echo "tests/run.sh: face-api package not fetched; test_faceapi will skip" >&2
cmake -S . -B "$build" "${extra[@]}" -DFT_SHARED_DIR="$shared" >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build" && ctest --output-on-failure -j"$(nproc)"
