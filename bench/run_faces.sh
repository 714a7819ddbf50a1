#!/usr/bin/env bash
# run_faces.sh — facetwin's face speed benchmark against PyTorch, in ONE run.
#
#   bash bench/run_faces.sh [--threads N] [--steps N] [--repeat N] [--quick]
#
# --repeat N runs the whole sequence N times, alternating, and keeps each
# configuration's best value per metric (for a machine that is not quiet).
# --quick is a smoke test of the script (a few steps and calls): its numbers
# are not measurements.
#
# Builds nothing: expects $BUILD/bench_faces (BUILD defaults to build) from
#   cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2 --target bench_faces
# Runs, one after the other with the same thread count (default 2), the
# face-cnn preset on the 400 ORL images:
#   1. facetwin        $BUILD/bench_faces
#   2. PyTorch tuned   glibc malloc kept from returning memory to the kernel
#                      (MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=64 GiB)
#   3. PyTorch tcmalloc LD_PRELOAD=libtcmalloc_minimal.so.4
#   4. PyTorch default glibc malloc as installed
# (2-4: bench/peer_torch_faces.py). "PyTorch best" is, metric by metric, the
# best of 2, 3 and 4; 4 is also shown beside it. Then a markdown table (for the
# README) with the ratios and targets:
#   pairs-mode training pairs/s (64 pairs/step)     facetwin / torch-best >= 1.5
#   in-batch training pairs/s (64 images/step)      facetwin / torch-best >= 1.5
#   embeddings/s (batch 128)                        facetwin / torch-best >= 1.5
# and, without a target, in-batch images/s, single-image latency and peak RSS
# (torch / facetwin for times and memory).
#
# Environment: BUILD (build dir), FT_SHARED_DIR (default ../shared beside the
# repository; the data is $FT_SHARED_DIR/datasets/orl), TORCH_PY (default
# /usr/bin/python3, Debian's python3-torch), TCMALLOC (path of
# libtcmalloc_minimal.so.4), OPENBLAS_CORETYPE (if set, it applies to every
# program of the run alike; the report names the kernels OpenBLAS ran), FT_LOCK
# (default /tmp/ft-heavy.lock: the whole run holds this flock so that other
# heavy jobs on the machine wait; set FT_LOCK= to run without it).
# Exit status: 0 after a complete run (targets missed or not), 77 when the ORL
# dataset is missing, 1 on any failure.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

BENCH_TAG=run_faces
. "$root/bench/lib_run.sh"
bench_lock "${BASH_SOURCE[0]}" "$@"

threads=${THREADS:-2}
steps=30
repeat=1
quick=()
usage() { echo "usage: bash bench/run_faces.sh [--threads N] [--steps N] [--repeat N] [--quick]" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
    --threads) [ $# -ge 2 ] || usage; threads=$2; shift 2 ;;
    --steps) [ $# -ge 2 ] || usage; steps=$2; shift 2 ;;
    --repeat) [ $# -ge 2 ] || usage; repeat=$2; shift 2 ;;
    --quick) steps=2; quick=(--warmup 1 --breakdown 1 --embed-batches 2 --latency-calls 20); shift ;;
    *) usage ;;
    esac
done

BUILD=${BUILD:-build}
shared=${FT_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}
data=$shared/datasets/orl
TORCH_PY=${TORCH_PY:-/usr/bin/python3}
TCMALLOC=${TCMALLOC:-/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4}

if [ ! -d "$data" ] || ! compgen -G "$data/*/*" >/dev/null; then
    echo "SKIP: dataset $data not found (set FT_SHARED_DIR to the directory holding datasets/)"
    exit 77
fi
bench=$BUILD/bench_faces
if [ ! -x "$bench" ]; then
    echo "run_faces: $bench not found; build first:" >&2
    echo "  cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release && cmake --build $BUILD -j2 --target bench_faces" >&2
    exit 1
fi
bench_need_torch

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads FT_SHARED_DIR=$shared

ptrial=()
[ ${#quick[@]} -gt 0 ] && ptrial=(--trial-steps 2)
peer=(bench/peer_torch_faces.py --data "$data" --threads "$threads" --steps "$steps" "${quick[@]}" "${ptrial[@]}")
bench_host
echo
facetwin_cmd=("$bench" --data "$data" --threads "$threads" --steps "$steps" "${quick[@]}")
bench_rounds

"$TORCH_PY" - "$tmp" "${#quick[@]}" <<'EOF'
import json, os, sys
d, quick = sys.argv[1], sys.argv[2] != "0"
lower_is_better = lambda k: "_ms" in k or k.startswith("peak_rss")

def load(name):
    """One configuration: its runs merged, each numeric metric at its best."""
    p = os.path.join(d, name + ".jsonl")
    if not os.path.exists(p):
        return {}
    runs = [json.loads(l) for l in open(p) if l.strip()]
    out = dict(runs[0])
    for k, v in runs[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            vals = [r[k] for r in runs]
            out[k] = min(vals) if lower_is_better(k) else max(vals)
    # the mode/variant labels follow the run whose headline is best
    for lab, key, hi in (("train_mode", "train_pairs_per_s", True),
                         ("inbatch_mode", "inbatch_pairs_per_s", True),
                         ("embed_variant", "embed_per_s", True),
                         ("latency_variant", "latency_ms_median", False)):
        if lab in out:
            pick = (max if hi else min)(runs, key=lambda r: r[key])
            out[lab] = pick[lab]
    out["runs"] = len(runs)
    return out

ft, tuned, tcm, dflt = load("facetwin"), load("torch_tuned"), load("torch_tcmalloc"), load("torch_default")
# the peer at its best: every configuration competes, the default malloc too (it was
# PyTorch's fastest single-image latency in some runs)
peers = {"tuned glibc": tuned, "tcmalloc": tcm, "default": dflt}
peers = {k: v for k, v in peers.items() if v}

def best(key, higher):
    k = (max if higher else min)(peers, key=lambda p: peers[p][key])
    return peers[k][key], k

rows = [  # label, key, higher is better, target ratio
    ("pairs-mode training, pairs/s (64 pairs = 128 images per step)", "train_pairs_per_s", True, 1.5),
    ("in-batch training, pairs/s (64 images = 2016 pairs per step)", "inbatch_pairs_per_s", True, 1.5),
    ("in-batch training, images/s", "inbatch_images_per_s", True, None),
    ("embeddings/s (batch 128)", "embed_per_s", True, 1.5),
    ("single-image latency, median ms", "latency_ms_median", False, None),
    ("single-image latency, p90 ms", "latency_ms_p90", False, None),
    ("peak RSS, MiB", "peak_rss_mb", False, None),
]
fmt = lambda v: f"{v:.3f}" if v < 10 else f"{v:.1f}" if v < 1000 else f"{v:,.0f}"
ratio = lambda f, t, higher: f / t if higher else t / f

if quick:
    print("**--quick smoke test: a few steps and calls; these numbers are not measurements.**")
    print()
rounds = f", best of {ft['runs']} alternating rounds" if ft["runs"] > 1 else ""
print(f"### facetwin vs PyTorch {tuned.get('torch', '')} — face-cnn, ORL ({ft['images']} images, "
      f"{ft['identities']} identities, 64×64), {ft['threads']} threads, same run{rounds}")
print()
print("| metric | facetwin | PyTorch best | facetwin advantage | target | PyTorch default malloc | advantage vs default |")
print("| --- | ---: | ---: | ---: | :---: | ---: | ---: |")
results = []
for label, key, higher, target in rows:
    b, who = best(key, higher)
    r = ratio(ft[key], b, higher)
    rd = ratio(ft[key], dflt[key], higher)
    tgt = f"≥ {target:g}× {'met' if r >= target else '**missed**'}" if target else ""
    if target:
        results.append((label.split(" (")[0], r, target))
    print(f"| {label} | {fmt(ft[key])} | {fmt(b)} ({who}) | {r:.2f}× | {tgt} | {fmt(dflt[key])} | {rd:.2f}× |")
print()
modes = "; ".join(f"{k}: pairs step {v.get('train_mode')}, in-batch step {v.get('inbatch_mode')}, "
                  f"embed {v.get('embed_variant')}, latency {v.get('latency_variant')}"
                  for k, v in peers.items())
print(f"Advantage = facetwin/PyTorch for rates, PyTorch/facetwin for times and memory. "
      f"PyTorch per configuration ({'memory format of the training steps, inference variant; _cl = channels_last'}): "
      f"{modes}. Both sides run the Siamese pairs step as one forward of the 2×64 images (batch norm "
      f"sees all 128) and the in-batch loss over all 2016 pairs (PyTorch: from the Gram matrix).")
print()
print(f"Training throughput in useful FLOPs (pairs mode / in-batch): facetwin "
      f"{ft['train_gflops']:.1f} / {ft['inbatch_gflops']:.1f} GFLOP/s, "
      + ", ".join(f"PyTorch {k} {v['train_gflops']:.1f} / {v['inbatch_gflops']:.1f}" for k, v in peers.items())
      + f" GFLOP/s ({ft['flops_per_image'] / 1e6:.2f} MFLOP/image forward; conv and dense only).")
print(f"facetwin pairs step split: gather {ft['step_gather_ms']:.2f} ms, forward {ft['step_forward_ms']:.1f} ms, "
      f"loss {ft['step_loss_ms']:.2f} ms, backward {ft['step_backward_ms']:.1f} ms, "
      f"update {ft['step_update_ms']:.2f} ms.")
print()
core = ft.get("blas_core", "?")
forced = os.environ.get("OPENBLAS_CORETYPE")
print(f"OpenBLAS (facetwin's GEMMs, PyTorch's Linear) ran its {core} kernels"
      + (f", forced by OPENBLAS_CORETYPE={forced} in the environment of every program of this run."
         if forced else ", as it detected the CPU."))
if core.lower() == "haswell" and "avx512f" in open("/proc/cpuinfo").read():
    print("Note: this CPU has AVX-512, which OpenBLAS's Haswell kernels leave unused (PyTorch's "
          "oneDNN convolutions use it regardless). Run with OPENBLAS_CORETYPE unset (or =SkylakeX) "
          "to give every program of the run OpenBLAS's AVX-512 kernels.")
print()
print("Targets: " + "; ".join(f"{l}: {r:.2f}× (target {t:g}×) {'met' if r >= t else 'MISSED'}"
                              for l, r, t in results))
EOF
