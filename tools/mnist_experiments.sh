#!/usr/bin/env bash
# Reproduces the README's MNIST / Fashion-MNIST accuracy figures (long: run by hand).
#   bash tools/mnist_experiments.sh [parity|all|all-calibrated|shift|fashion]...   (default: parity all fashion)
# Needs build/facetwin (Release) and ../shared/datasets/mnist-10k; fashion needs
# Debian's dataset-fashion-mnist (deploy/install-deps.sh --bench). Each run prints
# one JSON summary line (facetwin train --json) into out/experiments/<name>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
FT=${FT:-./build/facetwin}
MNIST=${FT_SHARED_DIR:-../shared}/datasets/mnist-10k
FASHION=/usr/share/datasets/fashion-mnist
THREADS=${THREADS:-2}
mkdir -p out/experiments
run() { # name args...
  local name=$1; shift
  echo "== $name: facetwin train $*" >&2
  /usr/bin/time -f "%e s wall, %M KiB peak RSS" "$FT" train "$@" --threads "$THREADS" --json \
    > "out/experiments/$name.json" 2> "out/experiments/$name.log"
  tail -1 "out/experiments/$name.log" >&2
  cat "out/experiments/$name.json"
}
what=${*:-parity all fashion}
for w in $what; do
  case $w in
    parity) # the Keras reference recipe exactly: its pairs, RMSprop 1e-3, batch 128, 20 epochs, d < 0.5
      for seed in 1 2 3; do
        run "parity-seed$seed" --data "$MNIST" --arch seed-mnist --out "out/experiments/parity-seed$seed.ftw" \
          --pairs keras --epochs 20 --batch 128 --optimizer rmsprop --lr 1e-3 --seed "$seed"
      done ;;
    all) # same network, richer pairs: fresh random positives + negatives every epoch, the fixed 0.5 rule
      for seed in 1 2 3; do
        run "all-seed$seed" --data "$MNIST" --arch seed-mnist --out "out/experiments/all-seed$seed.ftw" \
          --pairs all --epochs 20 --batch 128 --optimizer rmsprop --lr 1e-3 --seed "$seed" --threshold 0.5
      done ;;
    all-calibrated) # the same, threshold at the validation equal-error point (the default)
      for seed in 1 2 3; do
        run "allcal-seed$seed" --data "$MNIST" --arch seed-mnist --out "out/experiments/allcal-seed$seed.ftw" \
          --pairs all --epochs 20 --batch 128 --optimizer rmsprop --lr 1e-3 --seed "$seed"
      done ;;
    shift) # richer pairs + every training image moved by up to 2 px; 40 epochs, because at 20 the
           # validation loss was still falling at the last epoch (the best epoch by validation is kept)
      for seed in 1 2 3; do
        run "shift-seed$seed" --data "$MNIST" --arch seed-mnist --out "out/experiments/shift-seed$seed.ftw" \
          --pairs all --epochs 40 --batch 128 --optimizer rmsprop --lr 1e-3 --seed "$seed" --threshold 0.5 --shift 2
      done ;;
    fashion) # full Fashion-MNIST 60k/10k
      run "fashion-seed1" --data "$FASHION" --arch seed-mnist --out "out/experiments/fashion-seed1.ftw" \
        --pairs all --epochs ${FASHION_EPOCHS:-2} --batch 128 --optimizer rmsprop --lr 1e-3 --seed 1 --threshold 0.5 ;;
    *) echo "unknown experiment $w" >&2; exit 2 ;;
  esac
done
