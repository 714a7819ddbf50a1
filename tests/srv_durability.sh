#!/usr/bin/env bash
# facetwind under stress and failure:
#   kill -9 right after N acknowledged enrollments -> restart -> all N present;
#   concurrent enroll + verify from many clients -> no error, consistent gallery;
#   hot reload under load -> no failed request;
#   overload -> 503 + Retry-After; a slow client is cut off by the idle timeout;
#   start-up refusals with their exit codes; settings precedence flag > env > file.
. "$(dirname "$0")/lib_srv.sh"
need_fixture
ORL=$SHARED/datasets/orl
M=$TMP/model.ftw
cp "$FIXTURE/a.ftw" "$M"
STORE=sqlite:$TMP/g.db

# --- kill -9 after N acknowledged enrollments
start_daemon "$TMP/d1.log" --model "$M" --store "$STORE" || { bad "start"; finish; exit 1; }
N=15; acked=0
for i in $(seq 1 $N); do
  call POST /v1/enroll -F "subject_id=p$i" -F "image=@$ORL/s$((i % 40 + 1))/1.pgm"
  [ "$STATUS" = 201 ] && acked=$((acked+1))
done
kill9_daemon
[ $acked = $N ] && ok "$N enrollments acknowledged, then kill -9" || bad "only $acked/$N acknowledged"
start_daemon "$TMP/d2.log" --model "$M" --store "$STORE" || { bad "restart"; finish; exit 1; }
call GET "/v1/subjects?limit=1000"
n=$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["subjects"]))' "$BODY")
[ "$n" = $N ] && ok "after restart all $N subjects are there" || bad "after kill -9: $n of $N subjects"
call POST /v1/identify -F "image=@$ORL/s2/1.pgm" -F threshold=1000 -F k=1
[ "$(jget gallery_faces)" = $N ] && ok "and all $N faces are back in the index" || bad "index after restart $(cat "$BODY")"

# --- concurrent enroll + verify from many clients
client() { # KIND ID: 10 requests, one status per line
  local kind=$1 id=$2 j
  for j in $(seq 1 10); do
    if [ "$kind" = enroll ]; then
      curl -s -o /dev/null -w '%{http_code}\n' -F "subject_id=c$id-$j" -F "image=@$ORL/s$(( (id + j) % 40 + 1 ))/2.pgm" "$BASE/v1/enroll"
    else
      curl -s -o /dev/null -w '%{http_code}\n' -F "image1=@$ORL/s$(( (id + j) % 40 + 1 ))/3.pgm" -F "subject_id2=p$(( j % N + 1 ))" "$BASE/v1/verify"
    fi
  done > "$TMP/client-$kind-$id.out"
}
pids=()
for c in 1 2 3 4 5 6; do client enroll $c & pids+=($!); client verify $c & pids+=($!); done
wait "${pids[@]}"   # (a bare wait would also wait for the daemon)
total=$(cat "$TMP"/client-*.out | wc -l)
good=$(cat "$TMP"/client-enroll-*.out | grep -c '^201$'); goodv=$(cat "$TMP"/client-verify-*.out | grep -c '^200$')
[ "$total" = 120 ] && [ "$good" = 60 ] && [ "$goodv" = 60 ] && ok "12 concurrent clients: 60 enrollments 201, 60 verifications 200" \
  || bad "concurrent: $total answers, $good enroll 201, $goodv verify 200: $(cat "$TMP"/client-*.out | sort | uniq -c | tr '\n' ' ')"
call GET "/v1/subjects?limit=1000"
n=$($PY -c 'import json,sys; s=json.load(open(sys.argv[1]))["subjects"]; print(len(s), sum(x["faces"] for x in s))' "$BODY")
call POST /v1/identify -F "image=@$ORL/s2/1.pgm" -F threshold=1000 -F k=1
[ "$n" = "75 75" ] && [ "$(jget gallery_faces)" = 75 ] && ok "gallery consistent: 75 subjects, 75 faces in store and index" || bad "gallery after concurrency: '$n', index $(jget gallery_faces)"

# --- hot reload under load: no failed request
loader() {
  local j
  for j in $(seq 1 40); do
    curl -s -o /dev/null -w '%{http_code}\n' -F "image1=@$ORL/s$(( j % 40 + 1 ))/4.pgm" -F "image2=@$ORL/s$(( j % 40 + 1 ))/5.pgm" "$BASE/v1/verify"
  done > "$TMP/load-$1.out"
}
pids=()
for c in 1 2 3 4; do loader $c & pids+=($!); done
reloads=0
for k in 1 2 3 4 5 6; do
  if [ $((k % 2)) = 1 ]; then cp "$FIXTURE/b.ftw" "$TMP/m.new"; else cp "$FIXTURE/a.ftw" "$TMP/m.new"; fi
  mv "$TMP/m.new" "$M"
  call POST /v1/admin/reload; [ "$STATUS" = 200 ] && reloads=$((reloads+1))
  sleep 0.2
done
wait "${pids[@]}"
answers=$(cat "$TMP"/load-*.out | wc -l); fails=$(cat "$TMP"/load-*.out | grep -vc '^200$')
[ "$reloads" = 6 ] && [ "$answers" = 160 ] && [ "$fails" = 0 ] && ok "6 reloads (alternating models) under 4 clients: 160/160 requests 200" \
  || bad "reload under load: $reloads reloads, $answers answers, $fails not 200"
stop_daemon || bad "shutdown after load"

# --- overload: 503 + Retry-After; slow clients are cut off
start_daemon "$TMP/d3.log" --model "$M" --store "$STORE" --max-inflight 1 --timeout-s 2 --retry-after-s 3 || { bad "start 3"; finish; exit 1; }
head -c 600000 /dev/zero > "$TMP/slow.bin"
curl -s -o /dev/null --limit-rate 100k -F "image=@$TMP/slow.bin" "$BASE/v1/embed" &
slow=$!
sleep 1
call POST /v1/embed -F "image=@$ORL/s1/1.pgm"
expect "a second request while max_inflight=1 is taken" 503 overloaded
[ "$(hdr Retry-After)" = 3 ] && ok "503 carries Retry-After: 3" || bad "Retry-After '$(hdr Retry-After)'"
wait $slow
call POST /v1/embed -F "image=@$ORL/s1/1.pgm"; expect "served again once the slot is free" 200
exec 3<>/dev/tcp/127.0.0.1/"$PORT"
printf 'POST /v1/embed HTTP/1.1\r\nHost: x\r\n' >&3
t0=$(date +%s)
timeout 10 cat <&3 >/dev/null
t1=$(date +%s); exec 3<&- 3>&-
[ $((t1 - t0)) -le 6 ] && ok "a client that stalls mid-headers is disconnected after the idle timeout ($((t1 - t0)) s)" || bad "slow client held $((t1 - t0)) s"
call GET /healthz; expect "still serving" 200
# a store that cannot be written: /readyz says so, an enrollment fails cleanly, both recover
if chattr +i "$TMP/g.db" "$TMP/g.db-wal" 2>/dev/null; then
  call GET /readyz; expect "store made immutable under the daemon: not ready" 503
  [ "$(jget checks.store)" = false ] && [ "$(jget checks.model)" = true ] && ok "readyz names the store" || bad "readyz $(cat "$BODY")"
  call POST /v1/enroll -F subject_id=ro -F "image=@$ORL/s1/1.pgm"; expect "enroll into a store that cannot be written" 500 internal_error
  grep -q "$TMP" "$BODY" && bad "store error leaks a path" || ok "the 500 names no path"
  chattr -i "$TMP/g.db" "$TMP/g.db-wal"
  call GET /readyz; expect "store writable again: ready" 200
  call POST /v1/enroll -F subject_id=ro -F "image=@$ORL/s1/1.pgm"; expect "and enrollments work again" 201
else
  ok "read-only store check skipped: chattr +i is not supported on this file system"
fi
stop_daemon

# --- start-up refusals and exit codes
expect_exit() { # NAME CODE NEEDLE ARGS...
  local name=$1 code=$2 needle=$3; shift 3
  local out rc; out=$("$FTD" "$@" 2>&1 >/dev/null); rc=$?
  if [ $rc = "$code" ] && printf '%s' "$out" | grep -qF -- "$needle"; then ok "$name: exit $rc: $(printf '%s' "$out" | tail -1 | head -c 140)"
  else bad "$name: exit $rc (wanted $code): $out"; fi
}
expect_exit "missing model" 3 "model:" --model "$TMP/none.ftw" --store "$STORE" --check-config
head -c 3000 "$FIXTURE/a.ftw" > "$TMP/trunc.ftw"
expect_exit "truncated checkpoint" 3 "model:" --model "$TMP/trunc.ftw" --store "$STORE" --check-config
echo "ops nothex admin" > "$TMP/badkeys"
expect_exit "bad keys file" 5 "line 1" --model "$M" --store "$STORE" --api-keys "$TMP/badkeys" --check-config
expect_exit "non-loopback without keys" 2 "without API keys" --model "$M" --store "$STORE" --listen 0.0.0.0:0
expect_exit "unknown flag" 2 "unknown flag" --model "$M" --bogus 1
expect_exit "bad number" 2 "max_body_mb" --model "$M" --max-body-mb lots
echo "not sqlite at all, just text padding padding padding padding padding padding padding" > "$TMP/junk.db"
expect_exit "store is not a database" 4 "store" --model "$M" --store "sqlite:$TMP/junk.db" --check-config
"$FTD" --help | grep -q -- "--max-inflight" && ok "--help lists the settings" || bad "--help"
echo '{"cache_mb": 1, "threads": 1}' > "$TMP/cfg.json"
got() { "$@" --check-config 2>/dev/null | $PY -c 'import json,sys; print(json.load(sys.stdin)["cache_mb"])'; }
a=$(got "$FTD" --model "$M" --store "$STORE" --config "$TMP/cfg.json")
b=$(FACETWIN_CACHE_MB=2 got "$FTD" --model "$M" --store "$STORE" --config "$TMP/cfg.json")
c=$(FACETWIN_CACHE_MB=2 got "$FTD" --model "$M" --store "$STORE" --config "$TMP/cfg.json" --cache-mb 3)
d=$(FACETWIN_MODEL=$M FACETWIN_STORE=$STORE got "$FTD")
validate_captures
[ "$a/$b/$c/$d" = "1/2/3/64" ] && ok "precedence: file 1 < env 2 < flag 3; env-only settings work (default 64)" || bad "precedence $a/$b/$c/$d"
echo '{"cache_mbs": 1}' > "$TMP/typo.json"
expect_exit "typo in the config file" 2 "unknown setting 'cache_mbs'" --model "$M" --config "$TMP/typo.json"
finish
