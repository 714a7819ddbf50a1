#!/usr/bin/env bash
# One command on a fresh Debian 12 machine, as root: install every package, build facetwin,
# make a real face model if there is none yet, then run the main job: facetwind serving it on
# 127.0.0.1:8080 with the embedded SQLite gallery in out/gallery.db. Ctrl-C stops it cleanly.
#
# The model (FACETWIN_SETUP_MODEL):
#   face-api (default)  face-api's pretrained networks (npm pack @vladmandic/face-api, pinned and
#                       checksummed by deploy/fetch-face-api.sh) imported into out/faceapi.ftw:
#                       SSD detector, 68 landmarks, alignment, 128-d encoder, threshold 0.6.
#                       Requests are whole photos: the daemon finds, chooses and aligns the face.
#   face-cnn            the from-scratch encoder trained here on ../shared/datasets/orl (people
#                       s1-s32 for training, 4 for calibration, 4 never seen; ~2 min on 2 cores)
#                       into out/face-cnn.ftw, for pre-cropped grey faces.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
mkdir -p out
case "${FACETWIN_SETUP_MODEL:-face-api}" in
face-api)
  model=out/faceapi.ftw
  if [ ! -f "$model" ]; then
    src=$(bash deploy/fetch-face-api.sh)
    ./build/facetwin import --from face-api --src "$src" --out "$model"
  fi
  ;;
face-cnn)
  model=out/face-cnn.ftw
  if [ ! -f "$model" ]; then
    ./build/facetwin train --data "${FT_SHARED_DIR:-../shared}/datasets/orl" --arch face-cnn --epochs 40 \
      --val-identities 4 --test-identities 4 --split ordered --seed 1 --out "$model"
  fi
  ;;
*) echo "setup.sh: FACETWIN_SETUP_MODEL must be face-api or face-cnn" >&2; exit 2 ;;
esac
./build/facetwin info "$model"
exec ./build/facetwind --model "$model" --listen "${FACETWIN_LISTEN:-127.0.0.1:8080}" --store "sqlite:out/gallery.db"
