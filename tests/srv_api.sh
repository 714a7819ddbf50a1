#!/usr/bin/env bash
# facetwind over HTTP, every route and every documented error: starts the real daemon on
# 127.0.0.1 (ephemeral port, API keys, SQLite store in a temp dir) and drives it with curl.
#   auth and scopes; multipart and base64 inputs; enroll -> verify by subject -> identify ->
#   delete -> verify fails; idempotent enroll retry; cache hit on a repeated image (reply and
#   /metrics); deletion empties the cache; model reload (HTTP and SIGHUP), a model change
#   flags re-enrollment, a corrupt checkpoint keeps the old model; bad input of every kind
#   answers the documented status and code and the daemon keeps serving; every response is
#   validated against openapi.yaml; the access log holds no image bytes.
. "$(dirname "$0")/lib_srv.sh"
need_fixture
ORL=$SHARED/datasets/orl
PHOTOS=$SHARED/datasets/photos

ADMIN_KEY=admin-$RANDOM$RANDOM-secret
VERIFY_KEY=verify-$RANDOM$RANDOM-secret
{
  echo "# test keys"
  echo "ops $(printf '%s' "$ADMIN_KEY" | "$FTD" hash-key) admin"
  echo "app $(printf '%s' "$VERIFY_KEY" | "$FTD" hash-key) verify"
} > "$TMP/keys"
cp "$FIXTURE/a.ftw" "$TMP/model.ftw"
start_daemon "$TMP/d.log" --model "$TMP/model.ftw" --store "sqlite:$TMP/g.db" --api-keys "$TMP/keys" \
  --threads 2 --cache-mb 16 --max-images 4 --max-body-mb 2 || { bad "daemon start"; finish; exit 1; }
ok "facetwind listening on 127.0.0.1:$PORT"
A=(-H "Authorization: Bearer $ADMIN_KEY")
V=(-H "Authorization: Bearer $VERIFY_KEY")

# --- open endpoints, auth, scopes
call GET /healthz; expect "healthz without a key" 200
call GET /readyz; expect "readyz: model loaded, store writable" 200
[ "$(jget checks.store)" = true ] && ok "readyz checks.store" || bad "readyz body $(cat "$BODY")"
call GET /metrics; expect "metrics open" 200
grep -q '^# TYPE facetwind_requests_total counter' "$BODY" && ok "metrics in Prometheus text format" || bad "metrics body"
call GET /v1/model; expect "no key" 401 unauthorized
[ "$(hdr WWW-Authenticate)" = Bearer ] && ok "401 carries WWW-Authenticate: Bearer" || bad "WWW-Authenticate"
call GET /v1/model -H "Authorization: Bearer wrong-key"; expect "wrong key" 401 unauthorized
call GET /v1/model -H "Authorization: Basic Zm9vOmJhcg=="; expect "not a bearer key" 401 unauthorized
call GET /v1/model "${V[@]}"; expect "model info with the verify key" 200
MODEL_A=$(jget model)
[ -n "$MODEL_A" ] && [ "$(jget embedding_dim)" -gt 0 ] && ok "model $MODEL_A, dim $(jget embedding_dim)" || bad "model body"
[ "$(hdr X-Request-Id)" = "$(jget request_id)" ] && ok "X-Request-Id echoes request_id" || bad "request id header"
call GET /v1/model "${V[@]}" -H "X-Request-Id: trace-42"; [ "$(jget request_id)" = trace-42 ] && ok "client X-Request-Id kept" || bad "client request id"
call POST /v1/enroll "${V[@]}" -F subject_id=alice -F "image=@$ORL/s1/1.pgm"; expect "enroll needs admin" 403 forbidden

# --- enroll: multipart and JSON/base64
call POST /v1/enroll "${A[@]}" -F subject_id=alice -F 'metadata={"team":"red"}' -F "image=@$ORL/s1/1.pgm" -F "image=@$ORL/s1/2.pgm"
expect "enroll alice (multipart, 2 images)" 201
[ "$(jget created)" = true ] && [ "$(jget face_ids.1)" != "" ] && [ "$(jget faces_total)" = 2 ] \
  && ok "2 face ids, subject created" || bad "enroll body $(cat "$BODY")"
ALICE_F1=$(jget face_ids.0)
printf '{"subject_id":"bob","images":["%s","data:image/x-portable-graymap;base64,%s"]}' "$(b64 "$ORL/s2/1.pgm")" "$(b64 "$ORL/s2/2.pgm")" > "$TMP/bob.json"
call POST /v1/enroll "${A[@]}" -H 'Content-Type: application/json' --data-binary "@$TMP/bob.json"
expect "enroll bob (JSON, base64 and a data: URL)" 201
call POST /v1/enroll "${A[@]}" -F subject_id=alice -F "image=@$ORL/s1/3.pgm"
[ "$STATUS" = 201 ] && [ "$(jget created)" = false ] && [ "$(jget faces_total)" = 3 ] && ok "re-enrolling adds a face (3 now)" || bad "re-enroll $(cat "$BODY")"

# --- verify: two images, cache, subjects
call POST /v1/verify "${V[@]}" -F "image1=@$ORL/s3/1.pgm" -F "image2=@$ORL/s3/2.pgm"
expect "verify two images (multipart)" 200
[ "$(jget cache.misses)" = 2 ] && [ "$(jget threshold_source)" = calibrated ] && ok "2 cache misses, calibrated threshold $(jget threshold)" || bad "verify body $(cat "$BODY")"
D1=$(jget distance)
call POST /v1/verify "${V[@]}" -F "image1=@$ORL/s3/1.pgm" -F "image2=@$ORL/s3/2.pgm"
[ "$(jget cache.hits)" = 2 ] && [ "$(jget distance)" = "$D1" ] && ok "repeated request: 2 cache hits, same distance" || bad "cache hit $(cat "$BODY")"
call GET /metrics
hits=$(sed -n 's/^facetwind_cache_hits_total \([0-9]*\)$/\1/p' "$BODY")
[ "${hits:-0}" -ge 2 ] && ok "/metrics counts the cache hits ($hits)" || bad "metrics cache hits '$hits'"
printf '{"image1":"%s","subject_id2":"alice"}' "$(b64 "$ORL/s1/4.pgm")" > "$TMP/v.json"
call POST /v1/verify "${V[@]}" -H 'Content-Type: application/json' --data-binary "@$TMP/v.json"
expect "verify image vs enrolled subject (JSON)" 200
[ "$(jget inputs.1.kind)" = subject ] && [ -n "$(jget inputs.1.face_id)" ] && ok "subject side names its nearest face" || bad "inputs $(cat "$BODY")"
call POST /v1/verify "${V[@]}" -F subject_id1=alice -F subject_id2=bob; expect "verify subject vs subject" 200
call POST /v1/verify "${V[@]}" -F "image1=@$ORL/s3/1.pgm" -F "image2=@$ORL/s3/2.pgm" -F far=0.05
[ "$STATUS" = 200 ] && [ "$(jget threshold_source)" = far ] && [ -n "$(jget far.tar)" ] && ok "far=0.05 picks the threshold from the stored ROC ($(jget threshold))" || bad "far $(cat "$BODY")"
call POST /v1/verify "${V[@]}" -F "image1=@$ORL/s3/1.pgm" -F "image2=@$ORL/s3/2.pgm" -F threshold=100
[ "$(jget threshold_source)" = request ] && [ "$(jget same)" = true ] && ok "threshold=100: request threshold, same" || bad "threshold $(cat "$BODY")"
call POST /v1/verify "${V[@]}" -F "image1=@$ORL/s3/1.pgm" -F "image2=@$ORL/s3/2.pgm" -F threshold=1 -F far=0.1; expect "far and threshold together" 400 invalid_field
call POST /v1/verify "${V[@]}" -F "image1=@$ORL/s3/1.pgm" -F subject_id2=nobody; expect "verify against an unknown subject" 404 subject_not_found
if [ -d "$PHOTOS/people/obama" ]; then
  o=$(ls "$PHOTOS/people/obama"/*.jpg | head -2)
  call POST /v1/verify "${V[@]}" -F "image1=@$(echo "$o" | sed -n 1p)" -F "image2=@$(echo "$o" | sed -n 2p)"; expect "verify two JPEG photos" 200
  [ -f "$PHOTOS/probes/32bit.png" ] && { call POST /v1/embed "${V[@]}" -F "image=@$PHOTOS/probes/32bit.png"; expect "embed a 32-bit PNG" 200; }
fi

# --- identify, embed, subjects
call POST /v1/identify "${V[@]}" -F "image=@$ORL/s1/5.pgm" -F k=2 -F threshold=100
expect "identify (k=2, wide threshold)" 200
[ "$(jget matches.1.subject_id)" != "" ] && [ "$(jget gallery_faces)" = 5 ] && ok "2 subjects ranked over 5 faces; best $(jget match.subject_id)" || bad "identify body $(cat "$BODY")"
awk -v a="$(jget matches.0.distance)" -v b="$(jget matches.1.distance)" 'BEGIN{exit !(a <= b)}' && ok "nearest first" || bad "order"
printf '{"image":"%s","threshold":0.000001}' "$(b64 "$ORL/s5/1.pgm")" > "$TMP/i.json"
call POST /v1/identify "${V[@]}" -H 'Content-Type: application/json' --data-binary "@$TMP/i.json"
[ "$STATUS" = 200 ] && [ "$(jget match)" = null ] && [ "$(jget matches)" = "[]" ] && ok "no match is a real answer (match: null)" || bad "no-match $(cat "$BODY")"
call POST /v1/embed "${V[@]}" -F "image=@$ORL/s6/1.pgm"; expect "embed" 200
n=$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["embedding"]))' "$BODY")
[ "$n" = "$(jget dim)" ] && ok "embedding has dim=$n numbers" || bad "embedding length $n"
call GET "/v1/subjects?limit=1" "${V[@]}"; expect "subjects page 1" 200
[ "$(jget subjects.0.subject_id)" = alice ] && [ "$(jget next_cursor)" = alice ] && [ "$(jget subjects.0.metadata.team)" = red ] && ok "page 1: alice (with metadata), cursor" || bad "page 1 $(cat "$BODY")"
call GET "/v1/subjects?limit=1&cursor=alice" "${V[@]}"
[ "$(jget subjects.0.subject_id)" = bob ] && [ "$(jget next_cursor)" = null ] && ok "page 2: bob, last page" || bad "page 2 $(cat "$BODY")"
call GET "/v1/subjects?limit=0" "${V[@]}"; expect "limit=0" 400 invalid_field
call GET /v1/subjects/alice "${V[@]}"; expect "get alice" 200
[ "$(jget faces.2.current_model)" = true ] && ok "3 faces of the current model" || bad "subject body $(cat "$BODY")"
call GET /v1/subjects/nobody "${V[@]}"; expect "unknown subject" 404 subject_not_found

# --- idempotent enroll
call POST /v1/enroll "${A[@]}" -H "Idempotency-Key: k-123" -F subject_id=carol -F "image=@$ORL/s7/1.pgm"; expect "enroll carol with an Idempotency-Key" 201
F0=$(jget face_ids)
call POST /v1/enroll "${A[@]}" -H "Idempotency-Key: k-123" -F subject_id=carol -F "image=@$ORL/s7/1.pgm"
[ "$STATUS" = 201 ] && [ "$(jget replayed)" = true ] && [ "$(jget face_ids)" = "$F0" ] && [ "$(hdr Idempotent-Replayed)" = true ] \
  && ok "retry replays the first answer (same face ids $F0)" || bad "replay $(cat "$BODY")"
call GET /v1/subjects/carol "${V[@]}"; [ "$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["faces"]))' "$BODY")" = 1 ] && ok "retry stored nothing new (carol has 1 face)" || bad "carol faces $(cat "$BODY")"
call POST /v1/enroll "${A[@]}" -H "Idempotency-Key: k-123" -F subject_id=carol -F "image=@$ORL/s7/2.pgm"; expect "same key, different request" 422 idempotency_key_reused

# --- delete: store, index and cache
call DELETE "/v1/subjects/alice/faces/$ALICE_F1" "${A[@]}"; expect "delete one face of alice" 200
[ "$(jget deleted.face_ids.0)" = "$ALICE_F1" ] && [ "$(jget deleted.subject)" = false ] && [ "$(jget deleted.index_entries)" = 1 ] && ok "face $ALICE_F1 removed from store and index" || bad "delete face $(cat "$BODY")"
call DELETE "/v1/subjects/alice/faces/999999" "${A[@]}"; expect "unknown face" 404 face_not_found
call DELETE "/v1/subjects/alice/faces/abc" "${A[@]}"; expect "face id not a number" 400 invalid_field
call DELETE /v1/subjects/alice "${V[@]}"; expect "delete needs admin" 403 forbidden
call DELETE /v1/subjects/alice "${A[@]}"; expect "delete alice" 200
[ "$(jget deleted.subject)" = true ] && [ "$(jget deleted.index_entries)" = 2 ] && [ "$(jget deleted.cache_entries)" -ge 2 ] \
  && ok "alice: 2 faces from store and index, $(jget deleted.cache_entries) cache entries" || bad "delete subject $(cat "$BODY")"
call POST /v1/verify "${V[@]}" -F "image1=@$ORL/s1/4.pgm" -F subject_id2=alice; expect "verify against a deleted subject" 404 subject_not_found
call GET /v1/subjects/alice "${V[@]}"; expect "deleted subject is gone" 404 subject_not_found
call DELETE /v1/subjects/alice "${A[@]}"; expect "delete twice" 404 subject_not_found
call POST /v1/embed "${V[@]}" -F "image=@$ORL/s1/2.pgm"
[ "$(jget cache.misses)" = 1 ] && ok "a deleted face's image is no longer in the cache" || bad "cache after delete $(cat "$BODY")"

# --- bad input: the right status and code, and the daemon keeps serving
printf 'garbage' > "$TMP/text.bin"
head -c 3000 "$(ls "$PHOTOS"/people/*/*.jpg 2>/dev/null | head -1 || echo /dev/null)" > "$TMP/trunc.jpg" 2>/dev/null
$PY - "$TMP/huge.png" <<'PYEOF'
import struct, sys, zlib
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
ihdr = struct.pack('>IIBBBBB', 100000, 100000, 8, 0, 0, 0, 0)
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'\0' * 64)) + chunk(b'IEND', b''))
PYEOF
head -c $((3 * 1024 * 1024)) /dev/zero > "$TMP/big.bin"
call POST /v1/verify "${V[@]}" -H 'Content-Type: application/json' --data-binary '{"image1": "abc"'; expect "malformed JSON" 400 invalid_json
call POST /v1/verify "${V[@]}" -H 'Content-Type: text/plain' --data-binary 'hello'; expect "wrong content type" 415 unsupported_media_type
call POST /v1/verify "${V[@]}" -H 'Content-Type: application/x-www-form-urlencoded' --data-binary 'image1=x'; expect "form-urlencoded" 415 unsupported_media_type
call POST /v1/embed "${V[@]}" -H 'Content-Type: application/json' --data-binary '{"image":"!!!not base64***"}'; expect "bad base64" 400 invalid_base64
call POST /v1/embed "${V[@]}" -F "image=@$TMP/text.bin"; expect "a non-image" 415 unsupported_image_format
if [ -s "$TMP/trunc.jpg" ]; then call POST /v1/embed "${V[@]}" -F "image=@$TMP/trunc.jpg"; expect "a truncated JPEG" 422 invalid_image; fi
call POST /v1/embed "${V[@]}" -F "image=@$TMP/huge.png"; expect "a PNG declaring 100000x100000" 413 image_too_large
call POST /v1/embed "${V[@]}" -F "image=@$TMP/big.bin"; expect "a body over --max-body-mb 2" 413 body_too_large
call POST /v1/embed "${V[@]}" -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary "@$TMP/big.bin"; expect "a chunked body over the limit" 413 body_too_large
call GET /v1/nothing "${V[@]}"; expect "unknown route" 404 not_found
call GET /v1/verify "${V[@]}"; expect "wrong method" 405 method_not_allowed
[ "$(hdr Allow)" = POST ] && ok "405 carries Allow: POST" || bad "Allow header '$(hdr Allow)'"
call POST /v1/embed "${V[@]}" -H 'Content-Type: application/json' --data-binary '{"image":"https://example.com/face.jpg"}'; expect "a URL instead of an image" 400 url_not_supported
call POST /v1/embed "${V[@]}" -H 'Content-Type: application/json' --data-binary '{"image_url":"x"}'; expect "an unknown field" 400 invalid_field
call POST /v1/embed "${V[@]}" -H 'Content-Type: application/json' --data-binary '{}'; expect "no image" 400 missing_field
call POST /v1/verify "${V[@]}" -F "image1=@$ORL/s3/1.pgm"; expect "verify with one side" 400 missing_field
call POST /v1/enroll "${A[@]}" -F 'subject_id=bad id!' -F "image=@$ORL/s3/1.pgm"; expect "invalid subject id" 400 invalid_subject_id
call POST /v1/enroll "${A[@]}" -F subject_id=x -F 'metadata=[1,2]' -F "image=@$ORL/s3/1.pgm"; expect "metadata not an object" 400 invalid_field
call POST /v1/enroll "${A[@]}" -F subject_id=x -F "image=@$ORL/s3/1.pgm" -F "image=@$ORL/s3/2.pgm" -F "image=@$ORL/s3/3.pgm" -F "image=@$ORL/s3/4.pgm" -F "image=@$ORL/s3/5.pgm"
expect "5 images over --max-images 4" 413 too_many_images
call POST /v1/identify "${V[@]}" -F "image=@$ORL/s3/1.pgm" -F k=0; expect "k=0" 400 invalid_field
call POST /v1/enroll "${A[@]}" -H "Idempotency-Key: $(printf 'x%.0s' $(seq 1 300))" -F subject_id=x -F "image=@$ORL/s3/1.pgm"; expect "Idempotency-Key too long" 400 invalid_field
# hostile bodies: whatever the status, a 4xx with a JSON error, and the daemon keeps serving
hostile() { # NAME CURL-ARGS...: POST /v1/verify with the verify key
  local name=$1; shift
  call POST /v1/verify "${V[@]}" "$@"
  if [[ "$STATUS" =~ ^4[0-9][0-9]$ ]] && grep -q '"error":{"code":"' "$BODY"; then ok "$name -> $STATUS $(jget error.code)"
  else bad "$name: status $STATUS $(head -c 200 "$BODY")"; fi
}
printf -- '--XYZ\r\nContent-Disposition: form-data; name="image1"; filename="a"\r\n\r\nabc' > "$TMP/trunc-mp.bin"
hostile "multipart cut off before its closing boundary" -H 'Content-Type: multipart/form-data; boundary=XYZ' --data-binary "@$TMP/trunc-mp.bin"
hostile "multipart without a boundary parameter" -H 'Content-Type: multipart/form-data' --data-binary 'x'
hostile "multipart whose boundary never appears" -H 'Content-Type: multipart/form-data; boundary=nope' --data-binary "@$ORL/s1/1.pgm"
$PY -c 'print("[" * 5000 + "]" * 5000)' > "$TMP/deep.json"
hostile "JSON nested 5000 deep" -H 'Content-Type: application/json' --data-binary "@$TMP/deep.json"
$PY -c 'import sys; sys.stdout.write("{\"image1\": \"" + "A" * 1500000 + "\", \"image2\": 5}")' > "$TMP/longstr.json"
hostile "a 1.5 MB base64 string of zeros and a number for an image" -H 'Content-Type: application/json' --data-binary "@$TMP/longstr.json"
$PY -c 'import sys; sys.stdout.write("{\"" + "k" * 100000 + "\": 1}")' > "$TMP/longkey.json"
hostile "a 100 KB field name" -H 'Content-Type: application/json' --data-binary "@$TMP/longkey.json"
parts=(); for i in $(seq 1 1100); do parts+=(-F "x$i=1"); done
hostile "1,100 multipart fields" "${parts[@]}"
hostile "a field of NUL bytes" -H 'Content-Type: application/json' --data-binary $'{"image1":"\u0000\u0000","image2":"AAAA"}'
for i in $(seq 1 25); do
  head -c $((RANDOM % 4000 + 1)) /dev/urandom > "$TMP/rnd.bin"
  call POST /v1/verify "${V[@]}" -H 'Content-Type: multipart/form-data; boundary=r' --data-binary "@$TMP/rnd.bin"; s1=$STATUS
  call POST /v1/enroll "${A[@]}" -H 'Content-Type: application/json' --data-binary "@$TMP/rnd.bin"; s2=$STATUS
  [[ "$s1$s2" =~ ^4[0-9][0-9]4[0-9][0-9]$ ]] || { bad "random body $i: $s1 / $s2"; break; }
done
[ "$i" = 25 ] && ok "25 random bodies as multipart and as JSON: every answer a 4xx"
call GET /healthz; expect "still serving after bad input" 200

# --- model lifecycle: HTTP reload, model change, corrupt checkpoint, SIGHUP
call POST /v1/admin/reload "${V[@]}"; expect "reload needs admin" 403 forbidden
call POST /v1/admin/reload "${A[@]}"; expect "reload (same checkpoint)" 200
[ "$(jget model)" = "$MODEL_A" ] && [ "$(jget previous_model)" = "$MODEL_A" ] && ok "same model id after reload" || bad "reload body $(cat "$BODY")"
cp "$FIXTURE/b.ftw" "$TMP/model.new" && mv "$TMP/model.new" "$TMP/model.ftw"
call POST /v1/admin/reload "${A[@]}"; expect "reload a new checkpoint" 200
MODEL_B=$(jget model)
[ "$MODEL_B" != "$MODEL_A" ] && [ "$(jget gallery_faces)" = 0 ] && ok "model $MODEL_A -> $MODEL_B; no faces of the new model yet" || bad "reload b $(cat "$BODY")"
call POST /v1/verify "${V[@]}" -F "image1=@$ORL/s2/3.pgm" -F subject_id2=bob; expect "bob was enrolled by another model" 409 subject_needs_reenrollment
call GET /v1/subjects/bob "${V[@]}"; [ "$(jget needs_reenrollment)" = true ] && ok "GET subject says needs_reenrollment" || bad "needs_reenrollment $(cat "$BODY")"
head -c 5000 "$FIXTURE/a.ftw" > "$TMP/model.new" && mv "$TMP/model.new" "$TMP/model.ftw"
call POST /v1/admin/reload "${A[@]}"; expect "reload a truncated checkpoint" 500 reload_failed
grep -q "$TMP" "$BODY" && bad "reload error leaks a path: $(cat "$BODY")" || ok "reload error says why without a path: $(jget error.message | head -c 120)"
call GET /v1/model "${V[@]}"; [ "$(jget model)" = "$MODEL_B" ] && ok "the old model keeps serving" || bad "model after failed reload"
cp "$FIXTURE/a.ftw" "$TMP/model.new" && mv "$TMP/model.new" "$TMP/model.ftw"
kill -HUP "$PID"
for i in $(seq 1 100); do call GET /v1/model "${V[@]}"; [ "$(jget model)" = "$MODEL_A" ] && break; sleep 0.1; done
[ "$(jget model)" = "$MODEL_A" ] && ok "SIGHUP reloads (back to $MODEL_A)" || bad "SIGHUP reload"
call POST /v1/verify "${V[@]}" -F "image1=@$ORL/s2/3.pgm" -F subject_id2=bob; expect "bob verifies again under model A" 200
call GET /metrics
grep -q '^facetwind_requests_total{route="verify",code="200"} [1-9]' "$BODY" && grep -q '^facetwind_request_duration_seconds_bucket{route="verify",le="+Inf"}' "$BODY" \
  && grep -q '^facetwind_model_reloads_total{result="failed"} 1' "$BODY" && grep -q '^facetwind_gallery_faces ' "$BODY" \
  && ok "metrics: requests by route+code, latency histograms, reloads, gallery size" || bad "metrics content: $(grep -c . "$BODY") lines"

# --- the contract and the log
VALIDATE_ARGS=--require-all-2xx validate_captures
stop_daemon; rc=$?
[ $rc = 0 ] && grep -q "facetwind: stopped" "$TMP/d.log" && ok "SIGTERM: clean shutdown, exit 0" || bad "shutdown exit $rc: $(tail -2 "$TMP/d.log")"
if grep -q '^{"ts"' "$TMP/d.log" && ! grep -q -e '/9j/' -e 'Qk0' -e 'UDUK' -e "$ORL" "$TMP/d.log"; then
  ok "access log: JSON lines, no image bytes or client file names ($(grep -c '^{"ts"' "$TMP/d.log") lines)"
else bad "access log content"; fi
finish
