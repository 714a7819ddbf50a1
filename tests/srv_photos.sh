#!/usr/bin/env bash
# facetwind serving the imported face-api photo pipeline: whole photos in, faces found, aligned
# and embedded (../shared/datasets/photos).
#   enroll people/ (one photo each, require_single) -> each reply names the face it used;
#   verify: same person accepted, different people rejected at the shipped threshold;
#   identify the probes: the right person, or "no match" for an unknown face;
#   a group photo: faces_detected 2, require_single -> 422 multiple_faces, face_index picks the
#   other face; a photo without a face -> 422 no_face; face_index past the faces -> 422 no_face;
#   detector=tiny per request (1 face in obama_and_biden.jpg, as the reference), cached apart;
#   detect=false takes the image as a crop; the cache keys on the face choice;
#   every response validated against openapi.yaml.
. "$(dirname "$0")/lib_srv.sh"
need_fixture
PHOTOS=$SHARED/datasets/photos
[ -f "$FIXTURE/faceapi.ftw" ] || { echo "SKIP: no imported face-api pipeline (run deploy/fetch-face-api.sh)"; exit 77; }
[ -d "$PHOTOS/people" ] || { echo "SKIP: dataset $PHOTOS not found"; exit 77; }
start_daemon "$TMP/d.log" --model "$FIXTURE/faceapi.ftw" --store "sqlite:$TMP/g.db" || { bad "start"; finish; exit 1; }
ok "facetwind serving the face-api pipeline on 127.0.0.1:$PORT"

for d in "$PHOTOS"/people/*/; do
  n=$(basename "$d"); f=$(ls "$d"*.jpg | head -1)
  call POST /v1/enroll -F "subject_id=$n" -F "image=@$f" -F require_single=true
  [ "$STATUS" = 201 ] && [ "$(jget faces.0.faces_detected)" = 1 ] && [ -n "$(jget faces.0.face.box.width)" ] \
    && ok "enroll $n from a whole photo: 1 face, box $(jget faces.0.face.box.width | cut -c1-6) px wide" || bad "enroll $n: $(head -c 300 "$BODY")"
done
o=$(ls "$PHOTOS"/people/obama/*.jpg)
call POST /v1/verify -F "image1=@$(echo "$o" | sed -n 1p)" -F "image2=@$(echo "$o" | sed -n 2p)"
[ "$(jget same)" = true ] && [ "$(jget inputs.0.faces_detected)" = 1 ] && [ "$(jget threshold_source)" = model ] && ok "two photos of obama: same ($(jget distance | cut -c1-5) < $(jget threshold))" || bad "same person $(head -c 300 "$BODY")"
call POST /v1/verify -F "image1=@$(echo "$o" | sed -n 1p)" -F "image2=@$(ls "$PHOTOS"/people/biden/*.jpg | head -1)"
[ "$(jget same)" = false ] && ok "obama vs biden: different ($(jget distance | cut -c1-5))" || bad "different people $(head -c 300 "$BODY")"
who() { call POST /v1/identify -F "image=@$PHOTOS/probes/$1" "${@:2}"; WHO=$(jget match.subject_id); } # not in $(): call counts
who obama1.jpg; [ "$WHO" = obama ] && ok "probe obama1.jpg -> obama" || bad "obama1: $(head -c 300 "$BODY")"
who obama-240p.jpg; [ "$WHO" = obama ] && ok "probe obama-240p.jpg (a low-resolution frame) -> obama" || bad "240p: $(head -c 300 "$BODY")"
who alex_lacamoire1.jpg; [ "$WHO" = alex_lacamoire ] && ok "probe alex_lacamoire1.jpg -> alex_lacamoire" || bad "alex: $(head -c 300 "$BODY")"
who kit_with_rose.jpg; [ "$WHO" = "" ] && [ "$(jget match)" = null ] && [ "$(jget faces_detected)" = 2 ] \
  && ok "kit_with_rose.jpg: the largest face is nobody enrolled (match null)" || bad "kit: $(head -c 300 "$BODY")"
who kit_with_rose.jpg -F face_index=1; [ "$WHO" = rose_leslie ] && ok "kit_with_rose.jpg face_index=1 -> rose_leslie" || bad "rose: $(head -c 300 "$BODY")"
call POST /v1/embed -F "image=@$PHOTOS/probes/obama_and_biden.jpg" -F require_single=true; expect "a group photo with require_single" 422 multiple_faces
who obama_and_biden.jpg; a=$WHO; who obama_and_biden.jpg -F face_index=1; b=$WHO
[ "$(printf '%s\n%s\n' "$a" "$b" | sort | tr '\n' ' ')" = "biden obama " ] && ok "obama_and_biden.jpg: its two faces are biden and obama" || bad "group: '$a' '$b'"
call POST /v1/embed -F "image=@$PHOTOS/probes/obama_and_biden.jpg" -F face_index=5; expect "face_index past the faces found" 422 no_face
$PY -c 'import sys; sys.stdout.buffer.write(b"P5\n200 200\n255\n" + bytes([128]) * 40000)' > "$TMP/grey.pgm"
call POST /v1/embed -F "image=@$TMP/grey.pgm"; expect "a photo without a face" 422 no_face
call POST /v1/embed -F "image=@$TMP/grey.pgm" -F detect=false
[ "$STATUS" = 200 ] && [ -z "$(jget faces_detected)" ] && ok "detect=false embeds the image as a crop" || bad "detect=false $(head -c 200 "$BODY")"
call POST /v1/embed -F "image=@$PHOTOS/probes/obama1.jpg"
[ "$(jget cache.hits)" = 1 ] && [ "$(jget face.score)" != "" ] && ok "a repeated photo: cache hit, face record kept" || bad "cache hit $(head -c 200 "$BODY")"
call POST /v1/embed -F "image=@$PHOTOS/probes/kit_with_rose.jpg" -F face_index=1 -F detect=true
[ "$(jget cache.hits)" = 1 ] && ok "the cache keys on the face chosen (face_index=1 seen before)" || bad "face_index cache $(head -c 200 "$BODY")"
call POST /v1/embed -F "image=@$PHOTOS/probes/obama_and_biden.jpg" -F detect=maybe; expect "detect=maybe" 400 invalid_field
# the tiny detector, per request: it finds one face in obama_and_biden.jpg, as the reference's does;
# the cache keeps the detectors apart (the SSD's answer for this photo is cached above)
call POST /v1/embed -F "image=@$PHOTOS/probes/obama_and_biden.jpg" -F detector=tiny
[ "$STATUS" = 200 ] && [ "$(jget faces_detected)" = 1 ] && [ "$(jget cache.hits)" = 0 ] \
  && ok "detector=tiny: 1 face (the SSD found 2), not the SSD's cached answer" || bad "detector=tiny $(head -c 200 "$BODY")"
call POST /v1/embed -F "image=@$PHOTOS/probes/obama_and_biden.jpg" -F detector=yolo; expect "detector=yolo" 400 invalid_field
call DELETE /v1/subjects/obama; [ "$(jget deleted.cache_entries)" -ge 1 ] && ok "deleting obama forgets his photo's cache entry" || bad "delete $(head -c 200 "$BODY")"
validate_captures
stop_daemon || bad "shutdown"
finish
