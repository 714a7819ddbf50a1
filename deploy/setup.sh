#!/usr/bin/env bash
# One command on a fresh Debian 12 machine, as root: install every package, build facetwin,
# train a real face model if there is none yet (face-cnn on ../shared/datasets/orl, people
# s1-s32 for training, 4 for calibration, 4 never seen for the printed test figures; about
# two minutes on 2 cores), then run the main job: facetwind serving that model on
# 127.0.0.1:8080 with the embedded SQLite gallery in out/gallery.db. Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
data=${FT_SHARED_DIR:-../shared}/datasets/orl
mkdir -p out
if [ ! -f out/face-cnn.ftw ]; then
  ./build/facetwin train --data "$data" --arch face-cnn --epochs 40 --val-identities 4 --test-identities 4 \
    --split ordered --seed 1 --out out/face-cnn.ftw
fi
./build/facetwin info out/face-cnn.ftw
exec ./build/facetwind --model out/face-cnn.ftw --listen "${FACETWIN_LISTEN:-127.0.0.1:8080}" \
  --store "sqlite:out/gallery.db"
