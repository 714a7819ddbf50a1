#!/usr/bin/env bash
# cli_backbone.sh — `train/cv --backbone MODEL --freeze-backbone` through the CLI: usage errors
# (exit 2, one line), and with the fetched face-api package ($FT_FACEAPI_DIR/package) on a few
# ORL people: a head trained on the pipeline's features, the model written runs on photos
# (embed/verify detect and align through it), a head of the wrong size names both sizes, and
# cv's two rows. The library side (composition equals head(backbone(x)), frozen tensors,
# determinism) is tests/test_backbone.c.
. "$(dirname "$0")/lib_cli.sh"
FA=${FT_FACEAPI_DIR:-$HOME/.cache/facetwin/face-api}/package
ORL=$SHARED/datasets/orl

expect_usage() {
  local name=$1 needle=$2; shift 2
  local err rc lines
  err=$("$@" 2>&1 >/dev/null); rc=$?
  lines=$(printf '%s\n' "$err" | grep -c .)
  if [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ] && printf '%s' "$err" | grep -qF -- "$needle"; then ok "$name: $err"
  else bad "$name: exit $rc, $lines line(s): $err (wanted 2 and '$needle')"; fi
}
mkdir -p "$TMP/ids/a" "$TMP/ids/b"
D="$TMP/ids"
expect_usage "freeze without backbone" "--freeze-backbone needs --backbone" \
  "$FT" train --data "$D" --arch head-dense128 --out "$TMP/m.ftw" --freeze-backbone
expect_usage "backbone without freeze" "add --freeze-backbone" \
  "$FT" train --data "$D" --arch head-dense128 --out "$TMP/m.ftw" --backbone "$TMP/x.ftw"
expect_usage "photo options without backbone" "apply to --backbone only" \
  "$FT" train --data "$D" --arch face-cnn --out "$TMP/m.ftw" --canvas 300
expect_usage "resume with backbone" "do not apply to --backbone" \
  "$FT" train --data "$D" --arch head-dense128 --out "$TMP/m.ftw" --backbone "$TMP/x.ftw" --freeze-backbone --resume r
expect_usage "cv: freeze without backbone" "--freeze-backbone needs --backbone" \
  "$FT" cv --data "$D" --arch head-dense128 --freeze-backbone
expect_usage "cv: head none without backbone" "--head none needs --backbone" "$FT" cv --data "$D" --head none
expect_usage "cv: head other than none" "--head takes only 'none'" "$FT" cv --data "$D" --head big
expect_usage "cv: calib-folds with backbone" "--calib-folds does not apply" \
  "$FT" cv --data "$D" --head none --backbone "$TMP/x.ftw" --freeze-backbone --calib-folds 3
expect_usage "bad --no-face" "--no-face must be 'landmarks' or 'whole'" \
  "$FT" cv --data "$D" --head none --backbone "$TMP/x.ftw" --freeze-backbone --no-face crop
expect_error "missing backbone file" "x.ftw" \
  "$FT" train --data "$D" --arch head-dense128 --out "$TMP/m.ftw" --backbone "$TMP/x.ftw" --freeze-backbone

if [ ! -f "$FA/model/face_recognition_model-weights_manifest.json" ] || [ ! -d "$ORL" ]; then
  echo "cli_backbone: SKIPPED the training itself: no face-api package in $FA (bash deploy/fetch-face-api.sh) or no ORL in $ORL"
  finish || exit 1
  exit 77
fi
"$FT" import --from face-api --src "$FA" --out "$TMP/fa.ftw" >/dev/null && ok "imported the pipeline" || bad "import"
# 6 people x 4 images, and s23/3 (where the SSD finds no face even on the canvas)
mkdir -p "$TMP/orl"
for s in 1 2 3 4 5 23; do mkdir -p "$TMP/orl/s$s"; cp "$ORL/s$s/"[1-4].pgm "$TMP/orl/s$s/"; done
printf '{"name":"wide","input":{"width":64,"height":1,"channels":1},"layers":[{"type":"dense","units":8}]}' > "$TMP/wide.json"
expect_usage "head of the wrong input size" "takes 64 values per input, the backbone's embedding has 128" \
  "$FT" train --data "$TMP/orl" --arch "$TMP/wide.json" --out "$TMP/m.ftw" --backbone "$TMP/fa.ftw" --freeze-backbone
out=$("$FT" train --backbone "$TMP/fa.ftw" --freeze-backbone --arch head-dense128 --data "$TMP/orl" --canvas 300 \
      --val-identities 2 --test-identities 2 --epochs 15 --batch 16 --out "$TMP/head.ftw" --json --quiet 2>"$TMP/err")
printf '%s' "$out" | grep -q '"no_face":1,"no_face_rule":"landmarks"' && printf '%s' "$out" | grep -q '"detected":true' \
  && printf '%s' "$out" | grep -q '"test":{' && ok "train: $(printf '%s' "$out" | head -c 300)" || bad "train: $out $(cat "$TMP/err")"
[ ! -e "$TMP/head.ftw.head" ] && [ ! -e "$TMP/head.ftw.head.resume" ] && ok "no scratch files left" || bad "scratch files left"
info=$("$FT" info "$TMP/head.ftw" --json)
printf '%s' "$info" | grep -q '"arch":"face-api-recognition+head-dense128"' \
  && printf '%s' "$info" | grep -q '"frozen":true' && printf '%s' "$info" | grep -q '"pipeline":{' \
  && ok "the model is the backbone + head, pipeline kept" || bad "info: $(printf '%s' "$info" | head -c 400)"
v=$("$FT" verify --model "$TMP/head.ftw" --canvas 300 "$ORL/s1/1.pgm" "$ORL/s1/5.pgm" --json)
printf '%s' "$v" | grep -q '"same":true' && printf '%s' "$v" | grep -q '"faces_detected":1' \
  && printf '%s' "$v" | grep -q '"model":"face-api-recognition+head-dense128-' \
  && ok "verify through the head on photos: $(printf '%s' "$v" | head -c 120)" || bad "verify: $v"
e=$("$FT" embed --model "$TMP/head.ftw" --canvas 300 "$ORL/s2/1.pgm" --json)
# the head ends in l2norm: a unit vector
printf '%s' "$e" | python3 -c 'import json,sys,math; d=json.load(sys.stdin); v=d["embeddings"][0]["embedding"]; sys.exit(not (len(v)==128 and abs(math.sqrt(sum(x*x for x in v))-1)<1e-4))' \
  && ok "embed gives the head's unit vector" || bad "embed: $(printf '%s' "$e" | head -c 200)"
cv=$("$FT" cv --backbone "$TMP/fa.ftw" --freeze-backbone --arch head-dense128 --canvas 300 --data "$TMP/orl" \
     --folds 3 --first-folds 2 --val-identities 2 --epochs 5 --batch 8 --json --quiet)
printf '%s' "$cv" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(not (d["folds_run"]==2 and len(d["pipeline"]["per_fold"])==2 and len(d["head"]["per_fold"])==2 and "mean" in d["head"]["auc"] and d["features"]["images"]==24))' \
  && ok "cv: pipeline and head rows" || bad "cv: $cv"
cv=$("$FT" cv --backbone "$TMP/fa.ftw" --freeze-backbone --head none --canvas 300 --no-face whole --data "$TMP/orl" --folds 3 --val-identities 2 --json --quiet)
printf '%s' "$cv" | python3 -c 'import json,sys; d=json.load(sys.stdin); f=d["features"]; sys.exit(not ("pipeline" in d and "head" not in d and f["mirrored"] is False and f["no_face"]==1 and f["no_face_rule"]=="whole"))' \
  && ok "cv --head none --no-face whole: the backbone alone" || bad "cv --head none: $cv"
# Ctrl-C while the 400 ORL images are being embedded: exit 130 at the next image, one line
"$FT" cv --backbone "$TMP/fa.ftw" --freeze-backbone --head none --canvas 300 --data "$ORL" --quiet >/dev/null 2>"$TMP/int.err" &
pid=$!
sleep 2
kill -INT "$pid"
wait "$pid"; rc=$?
[ "$rc" -eq 130 ] && grep -q "interrupted while embedding" "$TMP/int.err" && ok "SIGINT during extraction: exit 130" \
  || bad "SIGINT during extraction: exit $rc: $(cat "$TMP/int.err")"
finish
