#!/usr/bin/env bash
# Bad input for whole photos through the daemon (issue 9): the matrix of cli_photos.sh, from the
# same generator (tests/photo_cases.c, derived at test time from ../shared/datasets/photos),
# posted to facetwind serving the imported face-api pipeline.
#   the known person in other encodings (grey, CMYK, Adobe CMYK/YCCK, 16-bit grey/RGB PNG,
#   8/16-bit RGBA PNG, EXIF 3/6/8, 40 MP = exactly max_pixels): 200, faces_detected 1, an
#   embedding within DIST_MAX of the original's, EXIF boxes in upright pixels, the 40 MP box where
#   the upscaled face is;
#   8001x5000: 413 image_too_large, refused from the header (the daemon's peak RSS does not move;
#   the accepted 40 MP photo then raises it);
#   16x16, a gradient, an ORL crop: 422 no_face (16x16 with detect=false: 200, the crop path);
#   a collage of six people photos: faces_detected 6, identify with face_index 0..5 finds each
#   tile's person at the distance of the same photo; require_single -> 422 multiple_faces,
#   face_index 6 -> 422 no_face;
#   faces cut at the border: 200, box clamped at x = 0;
#   afterwards /readyz 200, every response valid against openapi.yaml, a clean shutdown.
. "$(dirname "$0")/lib_srv.sh"
. "$(dirname "$0")/lib_photo_cases.sh"
need_fixture
PHOTOS=$SHARED/datasets/photos
GEN=${FT_PHOTO_CASES:?FT_PHOTO_CASES must point at the photo_cases helper}
[ -f "$FIXTURE/faceapi.ftw" ] || { echo "SKIP: no imported face-api pipeline (run deploy/fetch-face-api.sh)"; exit 77; }
[ -d "$PHOTOS/people" ] || { echo "SKIP: dataset $PHOTOS not found"; exit 77; }
C=$TMP/cases; mkdir -p "$C"
OBAMA=$PHOTOS/people/obama/obama.jpg

gen_cases || { finish; exit 1; }
# facts [REPLY]: "faces dist x y w h" of an /v1/embed reply (default: the last one), dist against
# $TMP/ref.json's embedding
facts() {
  $PY - "${1:-$BODY}" "$TMP/ref.json" <<'PYEOF'
import json, math, sys
x, ref = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))['embedding']
b = x.get('face', {}).get('box', {})
print(x.get('faces_detected', '-'), '%.4f' % math.dist(ref, x['embedding']),
      *('%.1f' % b.get(k, -1) for k in ('x', 'y', 'width', 'height')))
PYEOF
}
vm() { sed -n "s/^Vm$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$PID/status"; } # vm RSS|HWM: the daemon's (peak) RSS, KB

start_daemon "$TMP/d.log" --model "$FIXTURE/faceapi.ftw" --store "sqlite:$TMP/g.db" --threads 1 || { bad "start"; finish; exit 1; }
ok "facetwind serving the face-api pipeline on 127.0.0.1:$PORT"

# --- 40 MP, first thing: one column over the cap is refused from the header (413), exactly the
# cap is decoded. The refusal must leave the daemon's peak RSS where it was (the start-up's: the
# checkpoint is read, then freed), while the accepted photo, its 120 MB of pixels and the
# detector on top of the RSS, raises it measurably.
h0=$(vm HWM)
call POST /v1/embed -F "image=@$C/over.jpg"; expect "8001x5000 (over max_pixels)" 413 image_too_large
grep -q '8001x5000 pixels, over the 40000000-pixel cap' "$BODY" && ok "413 message names the size and the cap" || bad "413 message: $(head -c 300 "$BODY")"
h1=$(vm HWM)
call POST /v1/embed -F "image=@$C/huge.jpg"
h2=$(vm HWM); HUGE_STATUS=$STATUS; cp "$BODY" "$TMP/huge.json"
if [ $((h2 - h1)) -ge $RSS_SHOWS_KB ] && [ $((2 * (h1 - h0))) -lt $((h2 - h1)) ]; then
  ok "refused before decoding: peak RSS $h0 -> $h1 KB after the 413, -> $h2 KB after the accepted 40 MP photo"
else bad "peak RSS $h0 -> $h1 KB after the 413, -> $h2 KB after the accepted 40 MP photo (wanted no rise, then a rise)"; fi

call POST /v1/embed -F "image=@$OBAMA"
[ "$STATUS" = 200 ] && cp "$BODY" "$TMP/ref.json" || { bad "embed obama.jpg: $STATUS $(head -c 300 "$BODY")"; finish; exit 1; }
read -r _ _ ox oy ow oh < <(facts)
ok "obama.jpg: reference face at ($ox, $oy) ${ow}x$oh"

# --- the known person in other encodings
for v in grey.jpg cmyk.jpg cmyk_adobe.jpg ycck_adobe.jpg grey16.png rgb16.png rgba.png rgba16.png exif3.jpg exif6.jpg exif8.jpg; do
  call POST /v1/embed -F "image=@$C/$v"
  [ "$STATUS" = 200 ] || { bad "$v: $STATUS $(head -c 300 "$BODY")"; continue; }
  read -r n d x y w h < <(facts)
  check_variant "200, " "$v" "$n" "$d" "$x" "$y" "$w" "$h"
done
# the same EXIF-rotated bytes as base64 JSON: the same answer (a cache hit: same bytes, same options)
printf '{"image":"%s"}' "$(b64 "$C/exif6.jpg")" > "$TMP/exif6.json"
call POST /v1/embed -H 'Content-Type: application/json' --data-binary "@$TMP/exif6.json"
read -r n d x y w h < <(facts)
[ "$STATUS" = 200 ] && [ "$n" = 1 ] && fcmp "($x-$ox)^2 < $BOX_TOL^2" && ok "exif6.jpg as base64 JSON: 200, box x $x" || bad "exif6 JSON: $STATUS $(head -c 300 "$BODY")"

# --- faces cut at the border: found, box clamped at x = 0
for f in "$PHOTOS/probes/obama_partial_face.jpg" "$C/cut25.jpg" "$C/cut50.jpg"; do
  call POST /v1/embed -F "image=@$f"
  read -r n d x y w h < <(facts)
  if [ "$STATUS" = 200 ] && [ "$n" = 1 ] && fcmp "$x <= 1"; then ok "$(basename "$f"): 200, face at the border, box x = $x, ${w}x$h, distance to obama.jpg $d"
  else bad "$(basename "$f"): $STATUS faces $n box x $x $(head -c 200 "$BODY")"; fi
done

# --- the 40 MP reply: the face found on the downscaled copy, its box in the 40 MP pixels
if [ "$HUGE_STATUS" = 200 ]; then
  read -r n d x y w h < <(facts "$TMP/huge.json")
  [ "$n" = 1 ] && fcmp "$d < $DIST_MAX" && ok "huge.jpg (8000x5000 = max_pixels): 200, 1 face, distance $d" || bad "huge.jpg: faces $n, distance $d"
  check_huge_box "$x" "$y" "$w" "$h"
else bad "huge.jpg: $HUGE_STATUS $(head -c 300 "$TMP/huge.json")"; fi

# --- no face
call POST /v1/embed -F "image=@$C/tiny16.png"; expect "16x16 image" 422 no_face
call POST /v1/embed -F "image=@$C/tiny16.png" -F detect=false
[ "$STATUS" = 200 ] && [ "$(jget dim)" = 128 ] && [ -z "$(jget faces_detected)" ] && ok "16x16 with detect=false: 200, embedded as a crop" || bad "16x16 detect=false: $STATUS $(head -c 200 "$BODY")"
call POST /v1/embed -F "image=@$C/noface.jpg"; expect "a gradient" 422 no_face
ORL=$SHARED/datasets/orl/s1/1.pgm
[ -f "$ORL" ] && { call POST /v1/embed -F "image=@$ORL"; expect "an ORL crop (no canvas in the daemon)" 422 no_face; }

# --- many faces: a collage of six people photos; the people enrolled from their own photos
IFS=, read -r -a tiles <<< "$(mf collage.jpg tiles)"
declare -A want=()
for t in "${tiles[@]}"; do who=${t#people/}; who=${who%%/*}; want[$who]=$(( ${want[$who]:-0} + 1 )); done
for who in "${!want[@]}"; do
  args=(); for t in "${tiles[@]}"; do [[ $t == people/$who/* ]] && args+=(-F "image=@$PHOTOS/$t"); done
  call POST /v1/enroll -F "subject_id=$who" "${args[@]}"
  [ "$STATUS" = 201 ] || bad "enroll $who: $STATUS $(head -c 200 "$BODY")"
done
got=""
for k in $(seq 0 $((${#tiles[@]} - 1))); do
  call POST /v1/identify -F "image=@$C/collage.jpg" -F "face_index=$k"
  who=$(jget match.subject_id); d=$(jget match.distance)
  if [ "$STATUS" = 200 ] && [ "$(jget faces_detected)" = "${#tiles[@]}" ] && [ -n "$who" ] && fcmp "$d < $DIST_MAX"; then
    ok "collage face_index=$k: ${#tiles[@]} faces, this one is $who (${d:0:6}, i.e. the photo of the tile)"
  else bad "collage face_index=$k: $STATUS $(head -c 300 "$BODY")"; fi
  got="$got $who"
done
for who in "${!want[@]}"; do
  c=$(tr ' ' '\n' <<< "$got" | grep -cx "$who")
  [ "$c" = "${want[$who]}" ] && ok "$who: $c of the collage's faces, as tiled" || bad "$who: $c faces, ${want[$who]} tiled (got:$got)"
done
call POST /v1/embed -F "image=@$C/collage.jpg" -F require_single=true; expect "collage with require_single" 422 multiple_faces
grep -q '6 faces found' "$BODY" && ok "the message counts the 6 faces" || bad "multiple_faces message: $(head -c 200 "$BODY")"
call POST /v1/embed -F "image=@$C/collage.jpg" -F face_index=6; expect "collage face_index=6 (past the 6 faces)" 422 no_face
call POST /v1/verify -F "image1=@$C/exif8.jpg" -F "image2=@$C/cmyk_adobe.jpg"
[ "$(jget same)" = true ] && [ "$(jget inputs.1.faces_detected)" = 1 ] && ok "verify exif8.jpg vs cmyk_adobe.jpg: same ($(jget distance | cut -c1-6))" || bad "verify: $(head -c 300 "$BODY")"

call GET /readyz; expect "still ready after the whole matrix" 200
validate_captures
stop_daemon && ok "clean shutdown (exit 0)" || bad "shutdown"
finish
