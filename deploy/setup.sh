#!/usr/bin/env bash
# One command on a fresh Debian 12 machine, as root: install every package,
# build facetwin, then run the main job — train the seed-mnist encoder on
# ../shared/datasets/mnist-10k (5 epochs of richer pairs, a few minutes on 2 cores), evaluate it
# on the MNIST test pairs and print what the checkpoint holds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
data=${FT_SHARED_DIR:-../shared}/datasets/mnist-10k
mkdir -p out
./build/facetwin train --data "$data" --arch seed-mnist --out out/seed-mnist.ftw --pairs all --epochs 5 --seed 1
./build/facetwin eval --model out/seed-mnist.ftw --data "$data"
./build/facetwin info out/seed-mnist.ftw
