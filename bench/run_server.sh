#!/usr/bin/env bash
# run_server.sh — the HTTP benchmark of facetwind, every figure from ONE run.
#
#   bash bench/run_server.sh [--duration S] [--sizes N,N,...] [--no-log] [--quick]
#
# wrk (Debian's) drives the real daemon over loopback; Lua scripts in bench/wrk/ build
# multipart requests from two ORL PGMs. Each point is `wrk -t2 -cC -dS --latency`
# (-t1 at one connection: wrk needs a connection per thread) at C = 1, 8, 64:
#   (a) POST /v1/verify, two never-seen images per request (8 pixel bytes of each image
#       overwritten with a per-request stamp, so the embedding cache misses every time)
#   (b) the same verify request repeated (cache hits: no decode, no encoder)
#   (c) POST /v1/verify, a never-seen image against an enrolled subject (subject_id2)
#   (d) POST /v1/identify, a never-seen probe, over galleries of --sizes synthetic
#       embeddings (random unit vectors of the model's dim, tagged with its model id),
#       bulk-loaded into a fresh SQLite store by bench_gallery_fill before the daemon
#       starts; the daemon is restarted per size and loads them into its index.
# The peak RSS of the daemon (VmHWM since it started) is read after each scenario, and
# one request of each scenario is sent with curl to show the daemon's own timings_ms.
# In the same run, the references the ratios need:
#   bench_encoder   in-process images/s of ft_model_embed_bytes on the same PGM bytes,
#                   one thread per core each with its own ft_model (the daemon's setup):
#                   ratio (a) = verify req/s / (images/s / 2), target >= 0.9
#   bench_bare_mhd  libmicrohttpd alone, same flags and thread pool as the daemon, sent
#                   the (b) body: ratio (b) = daemon (b) req/s / bare req/s, target >= 0.5
#   bench_sgemv     one cblas_sgemv pass over the same N x dim matrix on 2 threads:
#                   ratio (d) = identify p50 at 1 connection / sgemv median, target <= 1.2
#                   (judged at the largest gallery; small ones are dominated by the encoder),
#                   for the never-seen probe (encoder included) and for one more point at 1
#                   connection with the same probe repeated (cache hit: HTTP + search only)
# and, unless --no-log, (a) at 8 connections once more with the JSON access log on.
#
# The daemon runs with its defaults (--threads = cores, no API keys on loopback) except
# --access-log off and --cache-mb FT_RS_CACHE_MB. wrk runs on the same cores as the
# server: on a 2-core machine the load generator takes CPU from the server it measures,
# most visibly at the highest request rates ((b) and the bare server). Nothing is pinned.
# Any non-2xx answer or socket error in a point is printed and marks the figure INVALID.
#
# The model: $FT_MODEL, else out/face-cnn.ftw, else one trained here in a few seconds
# (face-cnn, 3 epochs on ORL): speed does not depend on accuracy.
# Builds nothing: expects in $BUILD (default build) facetwind, facetwin, bench_encoder,
# bench_sgemv, bench_gallery_fill, bench_bare_mhd:
#   cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2
# Environment: BUILD, FT_SHARED_DIR (default ../shared beside the repository; the data is
# $FT_SHARED_DIR/datasets/orl), FT_MODEL, FT_LOCK (default /tmp/ft-heavy.lock: the whole
# run holds this flock; FT_LOCK= runs without it), WRK (default wrk).
# Exit status: 0 after a complete run (targets met or not; INVALID points are reported),
# 77 when ORL or wrk is missing, 1 on any failure. About 5 minutes at the defaults.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

BENCH_TAG=run_server
. "$root/bench/lib_run.sh"
bench_lock "${BASH_SOURCE[0]}" "$@"

FT_RS_CONNS="1 8 64"
FT_RS_WRK_THREADS=2
FT_RS_WRK_TIMEOUT_S=30        # identify over 1M faces at 64 connections queues for seconds
FT_RS_WARMUP_S=2              # a short unreported wrk run after each daemon start
FT_RS_ENCODER_S=5
FT_RS_SGEMV_REPS=30
FT_RS_CACHE_MB=256            # (a) adds ~600 bytes per image; (b) needs two entries
FT_RS_SEED=1                  # gallery rows: bench_gallery_fill and bench_sgemv alike
FT_RS_SUBJECT=bench-subject
FT_RS_TARGET_ENCODER=0.9
FT_RS_TARGET_BARE=0.5
FT_RS_TARGET_SGEMV=1.2
FT_RS_LOG_CONNS=8

args="$*"
duration=8
sizes="10000,100000,1000000"
log_figure=1
usage() { echo "usage: bash bench/run_server.sh [--duration S] [--sizes N,N,...] [--no-log] [--quick]" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
    --duration) [ $# -ge 2 ] || usage; duration=$2; shift 2 ;;
    --sizes) [ $# -ge 2 ] || usage; sizes=$2; shift 2 ;;
    --no-log) log_figure=0; shift ;;
    --quick) duration=2; sizes="10000,100000"; shift ;; # a smoke test of the script, not a measurement
    *) usage ;;
    esac
done
[[ $duration =~ ^[1-9][0-9]*$ && $sizes =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || usage

BUILD=${BUILD:-build}
WRK=${WRK:-wrk}
shared=${FT_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}
data=$shared/datasets/orl
IMG1=$data/s1/1.pgm
IMG2=$data/s2/1.pgm
ENROLL_IMG=$data/s3/1.pgm
PROBE_IMG=$data/s4/1.pgm
for f in "$IMG1" "$IMG2" "$ENROLL_IMG" "$PROBE_IMG"; do
    [ -f "$f" ] || { echo "SKIP: $f not found (set FT_SHARED_DIR to the directory holding datasets/)"; exit 77; }
done
command -v "$WRK" >/dev/null || { echo "SKIP: wrk not installed (apt-get install wrk)"; exit 77; }
for p in facetwind facetwin bench_encoder bench_sgemv bench_gallery_fill bench_bare_mhd; do
    if [ ! -x "$BUILD/$p" ]; then
        echo "$BENCH_TAG: $BUILD/$p not found; build first:" >&2
        echo "  cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release && cmake --build $BUILD -j2" >&2
        exit 1
    fi
done

tmp=$(mktemp -d)
cleanup() { bench_unserve; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
points=$tmp/points.tsv    # key conns req_s p50_ms p99_ms errors hwm_mib cpu
samples=$tmp/samples.tsv  # key timings_ms cache extra
: >"$points"
: >"$samples"
salt=0 # one wrk stamp salt per invocation against a daemon: images never repeat across runs

# ---- helpers -----------------------------------------------------------------------

# cpu_snapshot PID: "total TID:ticks ...": CPU ticks of the process (exited threads included)
# and of each live thread
cpu_snapshot() {
    awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); t = f[12] + f[13]
           if (FILENAME ~ /task/) { n = split(FILENAME, p, "/"); printf " %s:%d", p[n - 1], t } else printf "%d", t }
         END { print "" }' "/proc/$1/stat" "/proc/$1"/task/*/stat 2>/dev/null # a search thread may end meanwhile
}

# cpu_used BEFORE AFTER: "server CPU s (busiest thread s / next s)" between two snapshots
cpu_used() {
    awk -v hz="$(getconf CLK_TCK)" -v a="$1" -v b="$2" 'BEGIN {
        na = split(a, x, " "); nb = split(b, y, " ")
        for (i = 2; i <= na; i++) { split(x[i], kv, ":"); t0[kv[1]] = kv[2] }
        top1 = top2 = 0
        for (i = 2; i <= nb; i++) { split(y[i], kv, ":"); d = kv[2] - t0[kv[1]]
            if (d > top1) { top2 = top1; top1 = d } else if (d > top2) top2 = d }
        printf "%.1f (%.1f / %.1f)", (y[1] - x[1]) / hz, top1 / hz, top2 / hz }'
}

# wrk_point KEY SCRIPT PATH CONNS fresh|same [VAR=VALUE...]: one wrk run; appends to $points
wrk_point() {
    local key=$1 script=$2 path=$3 c=$4 mode=$5
    shift 5
    local t=$((c < FT_RS_WRK_THREADS ? c : FT_RS_WRK_THREADS)) s=0 out=$tmp/wrk-$key-$c.out
    if [ "$mode" = fresh ]; then
        salt=$((salt + 1))
        s=$salt
    fi
    local cpu0 cpu
    cpu0=$(cpu_snapshot "$SERVER_PID")
    env "$@" FT_WRK_SALT=$s "$WRK" -t"$t" -c"$c" -d"${duration}s" --timeout "${FT_RS_WRK_TIMEOUT_S}s" --latency \
        -s "bench/wrk/$script" "http://127.0.0.1:$PORT$path" >"$out" 2>&1 || { cat "$out"; echo "$BENCH_TAG: wrk failed" >&2; exit 1; }
    cpu=$(cpu_used "$cpu0" "$(cpu_snapshot "$SERVER_PID")")
    local line
    line=$(grep '^WRK ' "$out" | tail -1) || { cat "$out"; echo "$BENCH_TAG: no WRK line from wrk" >&2; exit 1; }
    local -A v=()
    local kv
    for kv in ${line#WRK }; do v[${kv%%=*}]=${kv#*=}; done
    local errors=$((v[status_errors] + v[connect_errors] + v[read_errors] + v[write_errors] + v[timeouts]))
    local rps p50 p99
    rps=$(awk -v r="${v[requests]}" -v d="${v[duration_us]}" 'BEGIN { printf "%.1f", r / (d / 1e6) }')
    p50=$(awk -v x="${v[p50_us]}" 'BEGIN { printf "%.3f", x / 1e3 }')
    p99=$(awk -v x="${v[p99_us]}" 'BEGIN { printf "%.3f", x / 1e3 }')
    printf '  %-16s %3d conn: %9s req/s  p50 %9s ms  p99 %9s ms  server CPU %s s  %s\n' "$key" "$c" "$rps" "$p50" "$p99" \
        "$cpu" "$([ "$errors" -eq 0 ] && echo ok || echo "INVALID: ${v[status_errors]} non-2xx, $((errors - v[status_errors])) socket errors/timeouts")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t-\t%s\n' "$key" "$c" "$rps" "$p50" "$p99" "$errors" "$cpu" >>"$points"
}

# note_hwm KEY: the daemon's VmHWM into this scenario's rows
note_hwm() {
    local hwm
    hwm=$(bench_vmhwm_mib "$SERVER_PID")
    awk -F'\t' -v OFS='\t' -v k="$1" -v h="$hwm" '$1 == k { $7 = h } { print }' "$points" >"$points.new"
    mv "$points.new" "$points"
    echo "  $1: daemon peak RSS (VmHWM since start) $hwm MiB"
}

# warmup SCRIPT PATH [VAR=VALUE...]: unreported, stamped requests (first-call allocations, page-in)
warmup() {
    local script=$1 path=$2
    shift 2
    salt=$((salt + 1))
    env "$@" FT_WRK_SALT=$salt "$WRK" -t"$FT_RS_WRK_THREADS" -c"$FT_RS_WRK_THREADS" -d"${FT_RS_WARMUP_S}s" \
        --timeout "${FT_RS_WRK_TIMEOUT_S}s" -s "bench/wrk/$script" "http://127.0.0.1:$PORT$path" >"$tmp/warmup.out" 2>&1 ||
        { cat "$tmp/warmup.out"; echo "$BENCH_TAG: warm-up wrk failed" >&2; exit 1; }
}

# stamp_pgm SRC DST TAG: a copy of SRC with its first pixel bytes replaced by TAG (never-seen image)
stamp_pgm() {
    local src=$1 dst=$2 tag=$3 w h size
    read -r _ w h _ < <(head -c 64 "$src" | tr '\n' ' '; echo)
    size=$(stat -c %s "$src")
    cp "$src" "$dst"
    printf '%s' "$tag" | dd of="$dst" bs=1 seek=$((size - w * h)) conv=notrunc status=none
}

# sample KEY PATH CURL-FORM-ARGS...: one request with curl; keeps the daemon's timings_ms and cache
sample() {
    local key=$1 path=$2 body=$tmp/sample-$1.json
    shift 2
    local code
    code=$(curl -s -S -o "$body" -w '%{http_code}' "$@" "http://127.0.0.1:$PORT$path")
    [ "$code" = 200 ] || { echo "$BENCH_TAG: sample $key answered $code: $(head -c 300 "$body")" >&2; exit 1; }
    local timings cache faces
    timings=$(sed -n 's/.*"timings_ms":{\([^}]*\)}.*/\1/p' "$body")
    cache=$(sed -n 's/.*"cache":{\([^}]*\)}.*/\1/p' "$body")
    faces=$(sed -n 's/.*"gallery_faces":\([0-9]*\).*/\1/p' "$body")
    printf '%s\t%s\t%s\t%s\n' "$key" "$timings" "$cache" "${faces:-}" >>"$samples"
    echo "  $key sample: timings_ms {$timings} cache {$cache}${faces:+ gallery_faces $faces}"
}

pgm_part() { echo "$1=@$2;type=image/x-portable-graymap"; }

daemon() { # daemon LOG STORE [extra flags]: facetwind as benchmarked
    local log=$1 store=$2
    shift 2
    bench_serve "$log" "$BUILD/facetwind" --listen 127.0.0.1:0 --model "$model" --store "sqlite:$store" \
        --cache-mb "$FT_RS_CACHE_MB" --access-log off "$@"
}

# ---- the run -----------------------------------------------------------------------

started=$(date -u '+%Y-%m-%d %H:%M UTC')
threads=$(nproc)
echo "# run_server: $started"
bench_host
echo "wrk: $("$WRK" -v 2>&1 | head -1 | cut -d' ' -f1-2), ${duration} s per point, -t$FT_RS_WRK_THREADS (-t1 at 1 connection), timeout ${FT_RS_WRK_TIMEOUT_S} s; wrk and the daemon share the same $threads cores (nothing pinned)"
[ -n "${OPENBLAS_CORETYPE:-}" ] && echo "OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (forced for every program of this run)"

model=${FT_MODEL:-$root/out/face-cnn.ftw}
if [ -f "$model" ]; then
    echo "model: $model (speed figures do not depend on its accuracy)"
else
    model=$tmp/face.ftw
    echo "model: none at out/face-cnn.ftw; training one (3 epochs: speed figures do not depend on its accuracy)"
    "$BUILD/facetwin" train --data "$data" --arch face-cnn --epochs 3 --val-identities 4 --quiet --out "$model" \
        >"$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; exit 1; }
    head -1 "$tmp/train.log"
fi
echo

bench_run encoder "$BUILD/bench_encoder" --model "$model" --seconds "$FT_RS_ENCODER_S" "$IMG1" "$IMG2"
enc_rate=$(sed -n 's/.*"images_per_s":\([0-9.]*\).*/\1/p' "$tmp/encoder.jsonl")

echo "== verify daemon (scenarios a, b, c)"
daemon "$tmp/verify.log" "$tmp/verify.db"
curl -s "http://127.0.0.1:$PORT/v1/model" >"$tmp/model.json"
model_id=$(sed -n 's/^{"model":"\([^"]*\)".*/\1/p' "$tmp/model.json")
dim=$(sed -n 's/.*"embedding_dim":\([0-9]*\).*/\1/p' "$tmp/model.json")
echo "  serving $model_id, embedding dim $dim; $(sed -n 's/^facetwind: serving model [^ ]* (\([0-9]*\) workers).*/\1 workers/p' "$tmp/verify.log")"
code=$(curl -s -o "$tmp/enroll.json" -w '%{http_code}' -F "$(pgm_part image "$ENROLL_IMG")" -F "subject_id=$FT_RS_SUBJECT" \
    "http://127.0.0.1:$PORT/v1/enroll")
[ "$code" = 201 ] || { echo "$BENCH_TAG: enrolling $FT_RS_SUBJECT answered $code: $(cat "$tmp/enroll.json")" >&2; exit 1; }
verify_pair=(FT_WRK_IMAGE1="$IMG1" FT_WRK_IMAGE2="$IMG2")
verify_subject=(FT_WRK_IMAGE1="$IMG1" FT_WRK_SUBJECT2="$FT_RS_SUBJECT")
warmup verify.lua /v1/verify "${verify_pair[@]}"
for c in $FT_RS_CONNS; do wrk_point verify_fresh verify.lua /v1/verify "$c" fresh "${verify_pair[@]}"; done
note_hwm verify_fresh
stamp_pgm "$IMG1" "$tmp/a1.pgm" sample-a
stamp_pgm "$IMG2" "$tmp/a2.pgm" sample-a
sample verify_fresh /v1/verify -F "$(pgm_part image1 "$tmp/a1.pgm")" -F "$(pgm_part image2 "$tmp/a2.pgm")"
for c in $FT_RS_CONNS; do wrk_point verify_same verify.lua /v1/verify "$c" same "${verify_pair[@]}"; done
note_hwm verify_same
sample verify_same /v1/verify -F "$(pgm_part image1 "$IMG1")" -F "$(pgm_part image2 "$IMG2")"
for c in $FT_RS_CONNS; do wrk_point verify_subject verify.lua /v1/verify "$c" fresh "${verify_subject[@]}"; done
note_hwm verify_subject
stamp_pgm "$IMG1" "$tmp/c1.pgm" sample-c
sample verify_subject /v1/verify -F "$(pgm_part image1 "$tmp/c1.pgm")" -F "subject_id2=$FT_RS_SUBJECT"
bench_unserve
echo

if [ "$log_figure" = 1 ]; then
    echo "== verify daemon with the access log on (stderr to a file), (a) at $FT_RS_LOG_CONNS connections"
    bench_serve "$tmp/verify-log.log" "$BUILD/facetwind" --listen 127.0.0.1:0 --model "$model" \
        --store "sqlite:$tmp/verify-log.db" --cache-mb "$FT_RS_CACHE_MB" --access-log stderr
    warmup verify.lua /v1/verify "${verify_pair[@]}"
    wrk_point verify_fresh_log verify.lua /v1/verify "$FT_RS_LOG_CONNS" fresh "${verify_pair[@]}"
    note_hwm verify_fresh_log
    bench_unserve
    echo "  access log: $(grep -c '^{"ts"' "$tmp/verify-log.log") lines"
    echo
fi

echo "== bare libmicrohttpd (bench_bare_mhd), the (b) body"
bench_serve "$tmp/bare.log" "$BUILD/bench_bare_mhd"
for c in $FT_RS_CONNS; do wrk_point bare_mhd verify.lua /v1/verify "$c" same "${verify_pair[@]}"; done
note_hwm bare_mhd
bench_unserve
echo

bench_run sgemv "$BUILD/bench_sgemv" --dim "$dim" --rows "$sizes" --threads "$threads" --reps "$FT_RS_SGEMV_REPS" \
    --seed "$FT_RS_SEED"

for n in ${sizes//,/ }; do
    echo "== identify over $n faces"
    store=$tmp/gallery-$n.db
    bench_run "fill-$n" "$BUILD/bench_gallery_fill" --model "$model" --store "sqlite:$store" --faces "$n" --seed "$FT_RS_SEED"
    t0=$(date +%s.%N)
    daemon "$tmp/identify-$n.log" "$store"
    echo "  daemon ready in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s (index built from the store)"
    identify=(FT_WRK_IMAGE="$PROBE_IMG")
    warmup identify.lua /v1/identify "${identify[@]}"
    for c in $FT_RS_CONNS; do wrk_point "identify_$n" identify.lua /v1/identify "$c" fresh "${identify[@]}"; done
    note_hwm "identify_$n"
    stamp_pgm "$PROBE_IMG" "$tmp/d.pgm" sample-d
    sample "identify_$n" /v1/identify -F "$(pgm_part image "$tmp/d.pgm")"
    # the same probe again and again: no decode, no encoder — HTTP + search, what sgemv is the floor of
    curl -s -o /dev/null -F "$(pgm_part image "$PROBE_IMG")" "http://127.0.0.1:$PORT/v1/identify"
    wrk_point "identify_same_$n" identify.lua /v1/identify 1 same "${identify[@]}"
    note_hwm "identify_same_$n"
    sample "identify_same_$n" /v1/identify -F "$(pgm_part image "$PROBE_IMG")"
    bench_unserve
    rm -f "$store" "$store"-wal "$store"-shm
    echo
done

# ---- the report ----------------------------------------------------------------------

field() { awk -F'\t' -v k="$1" -v c="$2" -v f="$3" '$1 == k && $2 == c { print $f }' "$points"; }
judge() { awk -v r="$1" -v t="$2" -v op="$3" 'BEGIN { ok = op == ">=" ? r >= t : r <= t; print ok ? "met" : "missed" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf("%.3f", (b > 0 ? a / b : 0)) }'; }
validity() { [ "$(field "$1" "$2" 6)" = 0 ] && echo "" || echo " (INVALID: $(field "$1" "$2" 6) errors)"; }

echo "## Summary — $started — \`$([ "$BUILD" = build ] || echo "BUILD=$BUILD ")bash bench/run_server.sh${args:+ $args}\`"
echo
echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), shared by wrk and the server;" \
    "facetwin $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'); model $model_id (dim $dim);" \
    "${duration} s per point; daemon: ${threads} workers, --cache-mb $FT_RS_CACHE_MB, --access-log off."
echo "Server CPU: seconds the server process used during the point, and its two busiest threads (the"
echo "libmicrohttpd workers, which also run the handlers); at most ${threads} × ${duration} s, less what wrk takes."
echo
echo "| scenario | conns | req/s | p50 ms | p99 ms | errors | server peak RSS | server CPU s (busiest thread / next) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
label() {
    case $1 in
    verify_fresh) echo "(a) verify, 2 never-seen images" ;;
    verify_fresh_log) echo "(a) verify, access log on" ;;
    verify_same) echo "(b) verify, same request (cache hits)" ;;
    verify_subject) echo "(c) verify, never-seen image vs subject" ;;
    bare_mhd) echo "bare libmicrohttpd, (b) body" ;;
    identify_same_*) echo "(d) identify, ${1#identify_same_} faces, same probe (cache hit)" ;;
    identify_*) echo "(d) identify, ${1#identify_} faces, never-seen probe" ;;
    esac
}
while IFS=$'\t' read -r key c rps p50 p99 err hwm cpu; do
    echo "| $(label "$key") | $c | $rps | $p50 | $p99 | $err$([ "$err" = 0 ] || echo ' INVALID') | $hwm MiB | $cpu |"
done <"$points"
echo
echo "| ratio | conns | value | target |"
echo "| --- | ---: | ---: | --- |"
for c in $FT_RS_CONNS; do
    r=$(ratio "$(field verify_fresh "$c" 3)" "$(awk -v e="$enc_rate" 'BEGIN { print e / 2 }')")
    t="≥ $FT_RS_TARGET_ENCODER $(judge "$r" "$FT_RS_TARGET_ENCODER" '>=')"
    [ "$c" = 1 ] && t="— (one request at a time uses one worker of $threads)"
    echo "| (a) verify req/s ÷ (encoder $enc_rate images/s ÷ 2) | $c | $r$(validity verify_fresh "$c") | $t |"
done
for c in $FT_RS_CONNS; do
    r=$(ratio "$(field verify_same "$c" 3)" "$(field bare_mhd "$c" 3)")
    echo "| (b) cache-hit verify req/s ÷ bare MHD req/s ($(field bare_mhd "$c" 3)) | $c | $r$(validity verify_same "$c")$(validity bare_mhd "$c") | ≥ $FT_RS_TARGET_BARE $(judge "$r" "$FT_RS_TARGET_BARE" '>=') |"
done
largest=${sizes##*,}
for n in ${sizes//,/ }; do
    med=$(sed -n 's/.*{"rows":'"$n"',"median_ms":\([0-9.]*\).*/\1/p' "$tmp/sgemv.jsonl")
    for kind in identify identify_same; do
        r=$(ratio "$(field "${kind}_$n" 1 4)" "$med")
        t="— (fixed per-request cost dominates)"
        [ "$n" = "$largest" ] && t="≤ $FT_RS_TARGET_SGEMV $(judge "$r" "$FT_RS_TARGET_SGEMV" '<=')"
        what="never-seen probe"
        [ "$kind" = identify_same ] && what="same probe, no encoder"
        echo "| (d) identify p50 ($what) ÷ sgemv median ($med ms), $n × $dim | 1 | $r$(validity "${kind}_$n" 1) | $t |"
    done
done
echo
echo "| one request (curl, after the scenario) | decode ms | encode ms | gallery ms | total ms | cache |"
echo "| --- | ---: | ---: | ---: | ---: | --- |"
while IFS=$'\t' read -r key timings cache faces; do
    get() { sed -n 's/.*"'"$1"'":\([0-9.e+-]*\).*/\1/p' <<<"$timings" | awk '{ printf "%.3f", $1 }'; }
    echo "| $(label "$key")${faces:+ ($faces searched)} | $(get decode) | $(get encode) | $(get gallery) | $(get total) | ${cache//\"/} |"
done <"$samples"
echo
echo "timings_ms are the daemon's own: decode, encode and gallery inside the handler; total from the"
echo "request's first callback (headers read) to the JSON reply built, i.e. also the upload and the"
echo "multipart parse, but not sending the answer nor the connection's queueing before its headers."
