# lib_run.sh — what the bench/run_*.sh scripts share (sourced, not run).
#
#   bench_lock SCRIPT ARGS...   re-runs SCRIPT under flock $FT_LOCK (default
#                               /tmp/ft-heavy.lock; FT_LOCK= runs without it) so
#                               that heavy jobs on the machine take turns
#   bench_run NAME CMD...       runs CMD, shows its output, appends its last
#                               "JSON {...}" line to $tmp/NAME.jsonl
#   bench_rounds                $repeat rounds of: facetwin ("${facetwin_cmd[@]}"),
#                               then the PyTorch peer ("${peer[@]}") with tuned
#                               glibc malloc, with tcmalloc ($TCMALLOC) and with
#                               the default malloc
#   bench_need_torch            exits 1 unless $TORCH_PY imports torch
#   bench_host                  the host and revision lines of a report
#   bench_serve LOG CMD...      starts a server (facetwind, bench_bare_mhd) in the
#                               background, stderr to LOG, and waits until it prints
#                               "listening on 127.0.0.1:PORT"; sets SERVER_PID, PORT
#   bench_unserve               SIGTERM to SERVER_PID and waits for it
#   bench_vmhwm_mib PID         peak resident set (VmHWM) of PID so far, in MiB
# BENCH_TAG names the script in messages.

bench_lock() {
    local script=$1
    shift
    FT_LOCK=${FT_LOCK-/tmp/ft-heavy.lock}
    if [ -n "$FT_LOCK" ] && [ -z "${FT_LOCK_HELD:-}" ] && command -v flock >/dev/null; then
        exec env FT_LOCK_HELD=1 flock "$FT_LOCK" bash "$script" "$@"
    fi
}

bench_run() {
    local name=$1
    shift
    echo "== $name: $*"
    "$@" > "$tmp/$name.out" 2>&1 || { cat "$tmp/$name.out"; echo "$BENCH_TAG: $name failed" >&2; exit 1; }
    grep -v '^JSON ' "$tmp/$name.out" || true
    grep '^JSON ' "$tmp/$name.out" | tail -1 | sed 's/^JSON //' >> "$tmp/$name.jsonl"
    echo
}

bench_rounds() {
    local r
    for ((r = 1; r <= repeat; r++)); do
        [ "$repeat" -gt 1 ] && echo "######## round $r of $repeat"
        bench_run facetwin "${facetwin_cmd[@]}"
        bench_run torch_tuned env MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 \
            FT_PEER_LABEL=torch-tuned-glibc "$TORCH_PY" "${peer[@]}"
        if [ -f "$TCMALLOC" ]; then
            bench_run torch_tcmalloc env LD_PRELOAD="$TCMALLOC" FT_PEER_LABEL=torch-tcmalloc "$TORCH_PY" "${peer[@]}"
        else
            echo "== torch_tcmalloc: skipped, $TCMALLOC not found"
        fi
        bench_run torch_default env FT_PEER_LABEL=torch-default "$TORCH_PY" "${peer[@]}"
    done
}

bench_need_torch() {
    if ! "$TORCH_PY" -c 'import torch' 2>/dev/null; then
        echo "$BENCH_TAG: $TORCH_PY cannot import torch (install Debian python3-torch, or set TORCH_PY)" >&2
        exit 1
    fi
}

bench_host() {
    echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), threads $threads"
    echo "facetwin $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') (working tree), build $BUILD"
}

SERVER_PID=""
PORT=""
BENCH_SERVE_WAIT_S=${BENCH_SERVE_WAIT_S:-600} # a 1M-face gallery is loaded before the listener

bench_serve() {
    local log=$1 i
    shift
    "$@" 2>"$log" &
    SERVER_PID=$!
    PORT=""
    for ((i = 0; i < BENCH_SERVE_WAIT_S * 10; i++)); do
        PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log" | head -1)
        [ -n "$PORT" ] && return 0
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "$BENCH_TAG: $1 exited: $(tail -3 "$log")" >&2
            SERVER_PID=""
            exit 1
        fi
        sleep 0.1
    done
    echo "$BENCH_TAG: $1 did not report its port within ${BENCH_SERVE_WAIT_S} s" >&2
    exit 1
}

bench_unserve() {
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

bench_vmhwm_mib() {
    awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"
}
