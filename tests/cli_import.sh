#!/usr/bin/env bash
# cli_import.sh — `facetwin import` through the CLI: usage errors (exit 2), a missing package
# (exit 1, one line pointing at deploy/fetch-face-api.sh), and with the fetched face-api package
# ($FT_FACEAPI_DIR/package): import, info, verify on ORL and the package folder accepted as --src.
. "$(dirname "$0")/lib_cli.sh"
FA=${FT_FACEAPI_DIR:-$HOME/.cache/facetwin/face-api}/package

expect_usage() {
  local name=$1 needle=$2; shift 2
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  if [ "$rc" -eq 2 ] && printf '%s' "$err" | grep -qF -- "$needle"; then ok "$name: $err"
  else bad "$name: exit $rc: $err (wanted 2 and '$needle')"; fi
}
expect_usage "no options" "--from, --src and --out are required" "$FT" import
expect_usage "other source" "--from must be face-api" "$FT" import --from dlib --src x --out "$TMP/m.ftw"
expect_usage "detector part" "'detector' is not available" "$FT" import --from face-api --src x --out "$TMP/m.ftw" --parts encoder,detector
expect_error "no package" "deploy/fetch-face-api.sh" "$FT" import --from face-api --src "$TMP" --out "$TMP/m.ftw"
[ -e "$TMP/m.ftw" ] && bad "a failed import left $TMP/m.ftw" || ok "a failed import writes nothing"

if [ ! -f "$FA/model/face_recognition_model-weights_manifest.json" ]; then
  echo "cli_import: SKIPPED the import itself: no face-api package in $FA (bash deploy/fetch-face-api.sh)"
  finish || exit 1
  exit 77
fi
out=$("$FT" import --from face-api --src "$FA/model" --out "$TMP/enc.ftw" --json) \
  && printf '%s' "$out" | grep -q '"model_id":"face-api-recognition-' && awk -v t="$(printf '%s' "$out" | json_num threshold)" 'BEGIN { exit !(t > 0.599999 && t < 0.600001) }' \
  && ok "import: $out" || bad "import: $out"
"$FT" import --from face-api --src "$FA" --out "$TMP/enc2.ftw" >/dev/null && cmp -s "$TMP/enc.ftw" "$TMP/enc2.ftw" \
  && ok "the package folder as --src gives the same bytes" || bad "package folder as --src"
info=$("$FT" info "$TMP/enc.ftw") && printf '%s' "$info" | grep -q "input      150x150, 3 channel(s)" \
  && printf '%s' "$info" | grep -q "zero-padded" && ok "info describes it" || bad "info: $info"
ORL=$SHARED/datasets/orl
if [ -d "$ORL" ]; then
  # the pipeline model detects by default: ORL's tight crop has no face the SSD can find ...
  expect_error "verify on a tight crop, detection on" "1.pgm: no face found" \
    "$FT" verify --model "$TMP/enc.ftw" "$ORL/s1/1.pgm" "$ORL/s1/2.pgm"
  # ... on a grey canvas it does; --no-detect takes the image as the face (pre-cropped path)
  for how in "--canvas 300" "--no-detect"; do
    # shellcheck disable=SC2086
    same=$("$FT" verify --model "$TMP/enc.ftw" $how "$ORL/s1/1.pgm" "$ORL/s1/2.pgm" --json)
    d=$(printf '%s' "$same" | json_num distance)
    awk -v d="$d" 'BEGIN { exit !(d > 0 && d < 0.6) }' && ok "verify $how s1/1 s1/2: $same" || bad "verify $how: $same"
  done
  printf '%s' "$same" | grep -q '"faces"' && bad "--no-detect reported faces" || ok "--no-detect reports no face"
fi
expect_usage "detect without model" "--model is required" "$FT" detect x.jpg
expect_usage "detect bad detector" "--detector must be ssd or tiny" "$FT" detect --model "$TMP/enc.ftw" --detector yolo x.jpg
expect_usage "align without output" "--out or --json is required" "$FT" align --model "$TMP/enc.ftw" x.jpg
"$FT" import --from face-api --src "$FA" --out "$TMP/enc-only.ftw" --parts encoder >/dev/null \
  && expect_error "detect on an encoder-only model" "holds no" "$FT" detect --model "$TMP/enc-only.ftw" "$ORL/s1/1.pgm"
PH=$SHARED/datasets/photos/probes
if [ -f "$PH/obama_and_biden.jpg" ]; then
  n=$("$FT" detect --model "$TMP/enc.ftw" --json "$PH/obama_and_biden.jpg" | json_num faces_detected)
  [ "$n" = 2 ] && ok "detect (ssd) finds 2 faces in obama_and_biden.jpg" || bad "detect ssd: $n faces"
  n=$("$FT" detect --model "$TMP/enc.ftw" --detector tiny --json "$PH/obama_and_biden.jpg" | json_num faces_detected)
  [ "$n" = 1 ] && ok "detect --detector tiny finds 1 (as the reference)" || bad "detect tiny: $n faces"
  "$FT" align --model "$TMP/enc.ftw" "$PH/obama_and_biden.jpg" --out "$TMP/face.png" 2>/dev/null \
    && [ "$(od -An -tx1 -j16 -N8 "$TMP/face.png" | tr -d ' \n')" = "0000009600000096" ] \
    && ok "align writes a 150x150 PNG" || bad "align --out"
  j=$("$FT" align --model "$TMP/enc.ftw" --json "$PH/two_people.jpg")
  printf '%s' "$j" | grep -q '"faces_detected":2' && printf '%s' "$j" | grep -q '"descriptor":\[' \
    && ok "align --json: 2 faces with descriptors" || bad "align --json: $j"
fi
finish
