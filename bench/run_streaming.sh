#!/usr/bin/env bash
# run_streaming.sh — training streams from disk: peak memory does not grow with
# the number of images, and the loader thread keeps the encoder busy.
#
#   bash bench/run_streaming.sh [--identities N] [--quick]
#
# Makes a synthetic identity-folder set from ORL (tools/make_synthetic_faces.py,
# N identities x 10 images, default 2000 -> 20,000 images) in a temporary
# directory, then trains the face-cnn preset on three sizes with the decoded-
# image cache OFF (--cache-mb 0: every image is read and decoded from disk every
# time):
#     ORL              400 images x 10 epochs
#     synthetic/10   2,000 images x  2 epochs
#     synthetic     20,000 images x  1 epoch
# and once more on ORL with the cache on (the default when the set fits).
# Prints, per run: images, peak RSS (MiB), images/s, the seconds the training
# loop spent blocked waiting for the loader and that as a fraction of the
# training time. A measurement, not a test: it holds /tmp/ft-heavy.lock.
# Needs build/facetwin (BUILD=...), python3, ../shared/datasets/orl.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
BENCH_TAG=run_streaming
. "$root/bench/lib_run.sh"
bench_lock "${BASH_SOURCE[0]}" "$@"
ids=2000 e_orl=10 e_mid=2 e_big=1
while [ $# -gt 0 ]; do
    case $1 in
    --identities) ids=$2; shift 2 ;;
    --quick) ids=100; e_orl=2; e_mid=1; e_big=1; shift ;;
    *) echo "usage: bash bench/run_streaming.sh [--identities N] [--quick]" >&2; exit 2 ;;
    esac
done
BUILD=${BUILD:-build}
shared=${FT_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}
orl=$shared/datasets/orl
[ -d "$orl" ] || { echo "SKIP: $orl not found"; exit 77; }
cli=$BUILD/facetwin
[ -x "$cli" ] || { echo "run_streaming: build $cli first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 tools/make_synthetic_faces.py "$orl" "$tmp/big" --identities "$ids" >/dev/null
mkdir -p "$tmp/mid"
for d in "$tmp"/big/id*; do # the first tenth of the identities
    n=${d##*/id}; [ $((10#$n)) -lt $((ids / 10)) ] && ln -s "$d" "$tmp/mid/${d##*/}"
done
echo "host: $(nproc) cores; facetwin $(git rev-parse --short HEAD 2>/dev/null || echo '?'); face-cnn, in-batch pairs, batch 64"
printf '\n| data | images | epochs | cache | peak RSS MiB | images/s | waited for data s | of training time |\n'
printf '| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n'
run() { # label dir epochs cache_mb
    local out
    out=$("$cli" train --data "$2" --arch face-cnn --epochs "$3" --batch 64 --cache-mb "$4" --val-identities 4 \
        --out "$tmp/m.ftw" --json --quiet --threads 2)
    python3 - "$1" "$3" "$out" <<'PY'
import json, sys
label, epochs, j = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
l = j["loader"]
imgs = l["images"]
print(f"| {label} | {round(j['images_per_sec'] * j['seconds'] / epochs):,} | {epochs} | {'on' if l['cache'] else 'off'} "
      f"| {j['peak_rss_mb']:.0f} | {j['images_per_sec']:.0f} | {l['wait_seconds']:.2f} | {100 * l['wait_fraction']:.1f}% |")
PY
}
run "ORL" "$orl" "$e_orl" 0
run "synthetic/10" "$tmp/mid" "$e_mid" 0
run "synthetic" "$tmp/big" "$e_big" 0
run "ORL, cache on" "$orl" "$e_orl" 256
echo
echo "images = training images per epoch (validation identities excluded). Peak RSS is the whole"
echo "process (model, optimiser, loader queue, validation set); 'waited' is the time the training loop"
echo "spent blocked in ft_loader_next."
