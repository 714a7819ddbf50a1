#!/usr/bin/env bash
# Identity folders through the CLI: train with an identity-disjoint split and a
# calibrated threshold, eval (recorded test people, --identities, --far,
# --report), cv, and the documented bad-input behaviour:
#   no images / only non-image files / fewer identities than asked  -> exit 1, one line
#   an identity with one image       -> warning naming it, it serves as negatives only
#   a non-image file among images    -> warning naming it, skipped
#   an unreadable image mid-epoch    -> warning naming it, skipped, training goes on
#   an unreadable image at eval time -> exit 1 naming it
. "$(dirname "$0")/lib_cli.sh"
ORL=$SHARED/datasets/orl
if [ ! -d "$ORL" ]; then echo "SKIP: dataset $ORL not found (set FT_SHARED_DIR)"; exit 77; fi

# a 12-person subset (symlinks), small enough for the sanitizer build
mkdir -p "$TMP/orl12"
for i in $(seq 1 12); do ln -s "$ORL/s$i" "$TMP/orl12/s$i"; done
quick=(--arch face-cnn --epochs 3 --batch 32 --quiet --threads 2)

out=$("$FT" train --data "$TMP/orl12" "${quick[@]}" --val-identities 3 --test-identities 3 --split ordered \
      --out "$TMP/f.ftw" --json 2>"$TMP/train.log")
rc=$?
[ $rc -eq 0 ] && ok "train on identity folders exits 0" || { bad "train exit $rc: $(tail -3 "$TMP/train.log")"; finish; exit 1; }
printf '%s' "$out" | grep -q '"rule":"eer"' && ok "threshold calibrated at the EER by default" || bad "calibration: $out"
printf '%s' "$out" | grep -q '"wait_fraction":' && ok "loader wait reported" || bad "loader stats: $out"
tp=$(printf '%s' "$out" | grep -o '"test":{[^}]*' | json_num pairs)
[ "$tp" = 270 ] && ok "3 test people: 135 same + 135 different pairs" || bad "test pairs $tp"
# 2 threads split each conv's batch over the library's pool: the same seed and thread count
# must still give the same bits (the weight-gradient partials are added in part order)
"$FT" train --data "$TMP/orl12" "${quick[@]}" --val-identities 3 --test-identities 3 --split ordered \
  --out "$TMP/f2.ftw" >/dev/null 2>&1 && cmp -s "$TMP/f.ftw" "$TMP/f2.ftw" \
  && ok "same seed, 2 threads: bit-identical model" || bad "two runs with the same seed and 2 threads differ"
"$FT" info "$TMP/f.ftw" --json | grep -q '"test":\["s10","s11","s12"\]' && ok "ordered split recorded: test s10-s12" \
  || bad "split in metadata: $("$FT" info "$TMP/f.ftw" --json | head -c 600)"

ev=$("$FT" eval --model "$TMP/f.ftw" --data "$TMP/orl12" --json)
[ "$(printf '%s' "$ev" | json_num pairs)" = 270 ] && printf '%s' "$ev" | grep -q '"identities":"s10,s11,s12"' \
  && ok "eval scores the recorded test people" || bad "eval default identities: $ev"
a1=$(printf '%s' "$out" | grep -o '"test":{[^}]*' | json_num accuracy)
a2=$(printf '%s' "$ev" | json_num accuracy)
[ "$a1" = "$a2" ] && ok "eval reproduces train's test accuracy ($a1)" || bad "train $a1 vs eval $a2"
"$FT" eval --model "$TMP/f.ftw" --data "$TMP/orl12" --identities s1,s2 --json | grep -q "\"pairs\":180" \
  && ok "--identities s1,s2: 90 same + 90 different pairs" || bad "--identities"
t1=$(printf '%s' "$ev" | json_num threshold)
t2=$("$FT" eval --model "$TMP/f.ftw" --data "$TMP/orl12" --far 0 --json | json_num threshold)
awk -v a="$t1" -v b="$t2" 'BEGIN{exit !(b <= a && b > 0)}' && ok "--far 0 picks a threshold from the stored ROC ($t2 <= $t1)" \
  || bad "--far 0 threshold $t2 vs stored $t1"
"$FT" eval --model "$TMP/f.ftw" --data "$TMP/orl12" --threshold 0.5 --json | grep -q '"accuracy_at_threshold":{"threshold":0.5' \
  && ok "--threshold 0.5 (the reference's rule) reported" || bad "--threshold 0.5"
"$FT" eval --model "$TMP/f.ftw" --data "$TMP/orl12" --report "$TMP/r.html" >/dev/null
if grep -q '<svg' "$TMP/r.html" && ! grep -qi '<script' "$TMP/r.html"; then ok "report: inline SVG, no script"; else bad "report"; fi
if [ -f "$FT_SOURCE_DIR/tools/render_check.sh" ]; then
  bash "$FT_SOURCE_DIR/tools/render_check.sh" "$TMP/r.html" "$TMP/r.png" >"$TMP/render.log" 2>&1; rc=$?
  case $rc in
    0) ok "report renders in headless Chromium" ;;
    77) ok "report render check skipped: $(tail -1 "$TMP/render.log")" ;;
    *) bad "report render: $(tail -2 "$TMP/render.log")" ;;
  esac
fi
"$FT" verify --model "$TMP/f.ftw" "$ORL/s1/1.pgm" "$ORL/s1/2.pgm" --json | grep -q '"distance":' \
  && ok "verify two face images" || bad "verify on faces"

cv=$("$FT" cv --data "$TMP/orl12" --arch face-cnn --folds 3 --epochs 2 --batch 32 --val-identities 2 --quiet --json)
n=$(printf '%s' "$cv" | grep -o '"fold":' | wc -l)
if [ "$n" = 3 ] && printf '%s' "$cv" | grep -q '"accuracy":{"mean":[0-9.]*,"std":[0-9.]*}' \
   && printf '%s' "$cv" | grep -q '"auc":{"mean"' && printf '%s' "$cv" | grep -q '"eer":{"mean"'; then
  ok "cv --folds 3 --json: mean/std and 3 folds"
else bad "cv json: $cv"; fi

# --- bad input
mkdir -p "$TMP/empty" "$TMP/textonly/a" "$TMP/few"
echo hi > "$TMP/textonly/a/notes.txt"
expect_error "no identity folder" "empty" "$FT" train --data "$TMP/empty" "${quick[@]}" --out "$TMP/x.ftw"
expect_error "only non-image files" "textonly" "$FT" train --data "$TMP/textonly" "${quick[@]}" --out "$TMP/x.ftw"
for i in 1 2 3; do ln -s "$ORL/s$i" "$TMP/few/s$i"; done
expect_error "fewer identities than the split asks" "identities" \
  "$FT" train --data "$TMP/few" "${quick[@]}" --val-identities 2 --test-identities 2 --out "$TMP/x.ftw"
expect_error "cv with more folds than identities" "folds" "$FT" cv --data "$TMP/few" --arch face-cnn --folds 5 --quiet
expect_error "eval on unknown identity" "s99" "$FT" eval --model "$TMP/f.ftw" --data "$TMP/orl12" --identities s1,s99

# a copy with a single-image identity, a non-image file and a corrupt image
mkdir -p "$TMP/messy"
for i in $(seq 1 8); do cp -r "$ORL/s$i" "$TMP/messy/s$i"; done
mkdir -p "$TMP/messy/solo"; cp "$ORL/s9/1.pgm" "$TMP/messy/solo/1.pgm"
echo "not a face" > "$TMP/messy/s3/README.txt"
head -c 200 /dev/urandom > "$TMP/messy/s2/5.pgm"
"$FT" train --data "$TMP/messy" "${quick[@]}" --val-identities 0 --threshold 0.5 --out "$TMP/m.ftw" >/dev/null 2>"$TMP/messy.log"
rc=$?
[ $rc -eq 0 ] && ok "messy set trains (exit 0)" || bad "messy train exit $rc: $(cat "$TMP/messy.log")"
grep -q "solo" "$TMP/messy.log" && ok "single-image identity named in a warning" || bad "solo warning: $(cat "$TMP/messy.log")"
grep -q "README.txt" "$TMP/messy.log" && ok "non-image file named in a warning" || bad "non-image warning"
grep -q "s2/5.pgm" "$TMP/messy.log" && ok "corrupt image skipped with a warning naming it" || bad "corrupt warning: $(cat "$TMP/messy.log")"
[ "$(grep -c 's2/5.pgm' "$TMP/messy.log")" = 1 ] && ok "warned once per file" || bad "repeated warnings"
"$FT" eval --model "$TMP/m.ftw" --data "$TMP/messy" --identities s2,s3 >/dev/null 2>"$TMP/evbad.log"
[ $? -eq 1 ] && grep -q "s2/5.pgm" "$TMP/evbad.log" && ok "eval stops on an unreadable image, naming it" \
  || bad "eval on corrupt: $(cat "$TMP/evbad.log")"
"$FT" train --data "$TMP/orl12" --arch face-cnn --pairs keras --out "$TMP/x.ftw" >/dev/null 2>&1
[ $? -eq 2 ] && ok "--pairs keras on identity folders is a usage error" || bad "--pairs keras on folders"
finish
