#!/usr/bin/env bash
# Trains the two small models the daemon tests serve (CTest fixture "srv", runs first):
# a.ftw and b.ftw differ only in their seed, so they have different model ids (for the
# reload and re-enrollment tests). 2 epochs of face-cnn on 12 ORL people. faceapi.ftw: the
# imported face-api photo pipeline for srv_photos.sh (if deploy/fetch-face-api.sh ran).
. "$(dirname "$0")/lib_cli.sh"
ORL=$SHARED/datasets/orl
if [ ! -d "$ORL" ]; then echo "SKIP: dataset $ORL not found (set FT_SHARED_DIR)"; exit 77; fi
OUT=${FT_BUILD_DIR:?}/srv-fixture
rm -rf "$OUT"; mkdir -p "$OUT" "$TMP/orl12"
for i in $(seq 1 12); do ln -s "$ORL/s$i" "$TMP/orl12/s$i"; done
for m in a:1 b:2; do
  name=${m%%:*}; seed=${m##*:}
  if "$FT" train --data "$TMP/orl12" --arch face-cnn --epochs 2 --batch 32 --quiet --threads 2 \
       --val-identities 3 --seed "$seed" --out "$OUT/$name.ftw" >"$TMP/$name.log" 2>&1; then
    ok "model $name trained (seed $seed)"
  else bad "train $name: $(tail -3 "$TMP/$name.log")"; fi
done
# the face-api photo pipeline (detector + landmarks + encoder), when the package was fetched
FA=${FT_FACEAPI_DIR:-$HOME/.cache/facetwin/face-api}/package
if [ -d "$FA/model" ]; then
  if "$FT" import --from face-api --src "$FA" --out "$OUT/faceapi.ftw" >"$TMP/fa.log" 2>&1; then ok "face-api pipeline imported"
  else bad "import face-api: $(tail -2 "$TMP/fa.log")"; fi
else
  ok "face-api package not fetched ($FA): srv_photos will skip"
fi
finish
