#!/usr/bin/python3
"""peer_torch.py — the PyTorch peer of bench/bench_core.c: the same network,
data, pairs, batch, optimiser and loss, measured the same way.

Network (seed-mnist, as the Keras MNIST Siamese example):
    Conv2d(1,64,3) ReLU Conv2d(64,32,3) ReLU Flatten Linear(18432,128) ReLU
Glorot-uniform weights and zero biases (Keras' defaults). ReLUs are in place.

Measured, with torch.set_num_threads(N) (--threads, default 2):
  training    pairs/s: Keras-style pairs on the MNIST-10k training labels,
              batch 128 pairs, RMSprop(lr 1e-3, alpha 0.9, eps 1e-7),
              contrastive loss (margin 1, d = sqrt(max(sum sq, 1e-7))).
              Two ways to run the Siamese step: "concat" (one forward of the
              2B images, as facetwin does) and "split" (two forwards of B
              through the shared module). --mode auto (default) times a short
              trial of each and measures the faster one; both trial rates are
              reported. The gather of the pair images is inside the step.
  embeddings  images/s at batch 128 in eval mode, under torch.no_grad(),
              under torch.inference_mode(), and with a frozen TorchScript
              module (torch.jit.optimize_for_inference); the best is reported
              as embed_per_s, each variant beside it.
  latency     batch 1, median and p90 ms over --latency-calls calls, for the
              same variants; the variant with the best median is reported.
  peak RSS    getrusage ru_maxrss after the above (MiB).

Prints human-readable lines and one line "JSON {...}" with the same keys as
bench_core. Needs Debian's python3-torch: run it with /usr/bin/python3.
Exit status 77 when the dataset is missing.
"""
import argparse
import gzip
import json
import os
import random
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn

PAIRS = 128          # pairs per step
EMBED_BATCH = 128
LR = 1e-3
RHO = 0.9
EPS = 1e-7
MARGIN = 1.0
DIST_EPS = 1e-7
SEED = 1234
SKIP = 77


def read_idx(path):
    """Unsigned-byte IDX (optionally gzip) -> numpy array of its dims."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    if magic >> 8 != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_set(directory, prefix):
    def find(kind):
        for ext in (".gz", ""):
            p = os.path.join(directory, f"{prefix}-{kind}{ext}")
            if os.path.exists(p):
                return p
        raise FileNotFoundError(os.path.join(directory, f"{prefix}-{kind}[.gz]"))
    x = read_idx(find("images-idx3-ubyte")).astype(np.float32) / 255.0
    y = read_idx(find("labels-idx1-ubyte")).astype(np.int64)
    return torch.from_numpy(x[:, None, :, :].copy()), y


def keras_pairs(labels, rng):
    """The Keras example's create_pairs: per class n = min count - 1;
    (idx[d][i], idx[d][i+1]) same, (idx[d][i], idx[d'][i]) different."""
    classes = sorted(set(labels.tolist()))
    idx = [np.where(labels == c)[0] for c in classes]
    n = min(len(i) for i in idx) - 1
    a, b, same = [], [], []
    C = len(classes)
    for d in range(C):
        for i in range(n):
            a.append(idx[d][i]); b.append(idx[d][i + 1]); same.append(1.0)
            dn = (d + rng.randrange(1, C)) % C
            a.append(idx[d][i]); b.append(idx[dn][i]); same.append(0.0)
    return (torch.tensor(a, dtype=torch.long), torch.tensor(b, dtype=torch.long),
            torch.tensor(same, dtype=torch.float32))


def make_model():
    m = nn.Sequential(
        nn.Conv2d(1, 64, 3), nn.ReLU(inplace=True),
        nn.Conv2d(64, 32, 3), nn.ReLU(inplace=True),
        nn.Flatten(),
        nn.Linear(32 * 24 * 24, 128), nn.ReLU(inplace=True))
    for layer in m:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return m


def contrastive(ea, eb, y):
    d2 = (ea - eb).pow(2).sum(1)
    d = torch.sqrt(torch.clamp(d2, min=DIST_EPS))
    return (y * d * d + (1.0 - y) * torch.clamp(MARGIN - d, min=0.0).pow(2)).mean()


def flops_per_image():
    c1 = 2 * 64 * 1 * 9 * 26 * 26
    c2 = 2 * 32 * 64 * 9 * 24 * 24
    fc = 2 * 18432 * 128
    return c1, c1 + c2 + fc


def train_steps(model, opt, X, pa, pb, py, mode, first, steps):
    """Runs `steps` steps from batch index `first`; returns per-step seconds and losses."""
    nb = len(py) // PAIRS
    times, losses = [], []
    for s in range(steps):
        k = (first + s) % nb
        sl = slice(k * PAIRS, (k + 1) * PAIRS)
        t0 = time.perf_counter()
        a, b, y = pa[sl], pb[sl], py[sl]
        if mode == "concat":
            e = model(X.index_select(0, torch.cat((a, b))))
            ea, eb = e[:PAIRS], e[PAIRS:]
        else:
            ea = model(X.index_select(0, a))
            eb = model(X.index_select(0, b))
        loss = contrastive(ea, eb, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lv = loss.item()
        times.append(time.perf_counter() - t0)
        losses.append(lv)
    return times, losses


def embed_rate(fn, Xt, batches):
    n = Xt.shape[0] // EMBED_BATCH
    fn(Xt[:EMBED_BATCH])  # warm-up
    fn(Xt[:EMBED_BATCH])
    t0 = time.perf_counter()
    for k in range(batches):
        j = (k % n) * EMBED_BATCH
        fn(Xt[j:j + EMBED_BATCH])
    return batches * EMBED_BATCH / (time.perf_counter() - t0)


def latency(fn, Xt, calls):
    for k in range(10):
        fn(Xt[k:k + 1])
    ms = []
    for k in range(calls):
        x = Xt[k % Xt.shape[0]:k % Xt.shape[0] + 1]
        t0 = time.perf_counter()
        fn(x)
        ms.append((time.perf_counter() - t0) * 1e3)
    ms.sort()
    q = lambda p: ms[min(len(ms) - 1, max(0, int(p * (len(ms) - 1) + 0.5)))]
    return q(0.5), q(0.9)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    shared = os.environ.get("FT_SHARED_DIR") or "../shared"
    ap.add_argument("--data", default=os.path.join(shared, "datasets", "mnist-10k"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--mode", choices=("auto", "concat", "split"), default="auto")
    ap.add_argument("--trial-steps", type=int, default=8, help="steps per mode in --mode auto")
    ap.add_argument("--embed-batches", type=int, default=60)
    ap.add_argument("--latency-calls", type=int, default=500)
    ap.add_argument("--no-jit", action="store_true", help="skip the TorchScript inference variant")
    ap.add_argument("--label", default=os.environ.get("FT_PEER_LABEL", "torch"),
                    help="name of this configuration in the JSON (e.g. torch-tcmalloc)")
    args = ap.parse_args()

    if not os.path.isdir(args.data):
        print(f"peer_torch: dataset {args.data} not found (pass --data DIR or set FT_SHARED_DIR)",
              file=sys.stderr)
        return SKIP
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)

    X, ytr = load_set(args.data, "train")
    Xt, _ = load_set(args.data, "t10k")
    pa, pb, py = keras_pairs(ytr, rng)
    perm = torch.randperm(len(py), generator=torch.Generator().manual_seed(SEED))
    pa, pb, py = pa[perm], pb[perm], py[perm]
    c1, fimg = flops_per_image()
    step_flops = 2 * PAIRS * (3 * fimg - c1)
    malloc = ("tcmalloc" if "tcmalloc" in os.environ.get("LD_PRELOAD", "") else
              "glibc-tuned" if os.environ.get("MALLOC_MMAP_MAX_") is not None else "glibc")
    print(f"PyTorch {torch.__version__} peer: seed-mnist, {fimg / 1e6:.2f} MFLOP/image forward, "
          f"threads {torch.get_num_threads()}, malloc {malloc}")
    print(f"data: {args.data} ({X.shape[0]} train images, {Xt.shape[0]} test images, "
          f"{len(py)} keras pairs)")

    # ---- training
    model = make_model()
    model.train()
    opt = torch.optim.RMSprop(model.parameters(), lr=LR, alpha=RHO, eps=EPS)
    step = 0
    trial = {}
    if args.mode == "auto":
        for mode in ("concat", "split"):  # warm-up of both: first-touch allocations
            train_steps(model, opt, X, pa, pb, py, mode, step, 2)
            step += 2
        for mode in ("concat", "split", "concat", "split"):  # interleaved: less drift bias
            t, _ = train_steps(model, opt, X, pa, pb, py, mode, step, args.trial_steps // 2)
            step += args.trial_steps // 2
            trial[mode] = trial.get(mode, 0.0) + sum(t)
        trial = {m: (args.trial_steps // 2) * 2 * PAIRS / s for m, s in trial.items()}
        mode = max(trial, key=trial.get)
    else:
        mode = args.mode
    train_steps(model, opt, X, pa, pb, py, mode, step, args.warmup)
    step += args.warmup
    t0 = time.perf_counter()
    times, losses = train_steps(model, opt, X, pa, pb, py, mode, step, args.steps)
    total = time.perf_counter() - t0
    pairs_s = args.steps * PAIRS / total
    med = sorted(times)[len(times) // 2]
    trial_txt = ", ".join(f"{m} {r:.1f}" for m, r in trial.items())
    print(f"training     {pairs_s:9.1f} pairs/s   (batch {PAIRS} pairs, mode {mode}"
          f"{' chosen from trial pairs/s: ' + trial_txt if trial else ''}; {args.steps} steps; "
          f"step mean {total / args.steps * 1e3:.1f} ms, median {med * 1e3:.1f} ms; "
          f"{step_flops / (total / args.steps) * 1e-9:.1f} GFLOP/s; "
          f"loss {losses[0]:.4f} -> {losses[-1]:.4f})")

    # ---- inference variants
    model.eval()

    def run_no_grad(x):
        with torch.no_grad():
            return model(x)

    def run_inference_mode(x):
        with torch.inference_mode():
            return model(x)

    variants = {"no_grad": run_no_grad, "inference_mode": run_inference_mode}
    if not args.no_jit:
        try:
            with torch.no_grad():
                frozen = torch.jit.optimize_for_inference(
                    torch.jit.freeze(torch.jit.trace(model, Xt[:EMBED_BATCH])))

            def run_jit(x):
                with torch.no_grad():
                    return frozen(x)
            for _ in range(3):  # profiling runs of the TorchScript executor
                run_jit(Xt[:EMBED_BATCH])
                run_jit(Xt[:1])
            variants["jit_frozen"] = run_jit
        except Exception as e:  # older/other builds: report without it
            print(f"  (TorchScript variant skipped: {e})")
    embed = {k: embed_rate(f, Xt, args.embed_batches) for k, f in variants.items()}
    lat = {k: latency(f, Xt, args.latency_calls) for k, f in variants.items()}
    best_e = max(embed, key=embed.get)
    best_l = min(lat, key=lambda k: lat[k][0])
    print(f"embeddings   {embed[best_e]:9.1f} images/s (batch {EMBED_BATCH}, {args.embed_batches} "
          f"batches, best: {best_e}; " + ", ".join(f"{k} {v:.1f}" for k, v in embed.items()) + ")")
    print(f"latency      {lat[best_l][0]:9.3f} ms median, {lat[best_l][1]:.3f} ms p90 (batch 1, "
          f"{args.latency_calls} calls, best: {best_l}; "
          + ", ".join(f"{k} {v[0]:.3f}/{v[1]:.3f}" for k, v in lat.items()) + ")")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"peak RSS     {rss:9.1f} MiB")

    out = {
        "impl": args.label, "torch": torch.__version__, "malloc": malloc, "model": "seed-mnist",
        "threads": torch.get_num_threads(), "batch_pairs": PAIRS, "train_steps": args.steps,
        "train_pairs_per_s": round(pairs_s, 2), "train_step_ms": round(total / args.steps * 1e3, 3),
        "train_step_ms_median": round(med * 1e3, 3),
        "train_gflops": round(step_flops / (total / args.steps) * 1e-9, 2), "train_mode": mode,
        "train_trial_pairs_per_s": {m: round(r, 2) for m, r in trial.items()},
        "embed_batch": EMBED_BATCH, "embed_per_s": round(embed[best_e], 2), "embed_variant": best_e,
        "embed_per_s_variants": {k: round(v, 2) for k, v in embed.items()},
        "latency_ms_median": round(lat[best_l][0], 4), "latency_ms_p90": round(lat[best_l][1], 4),
        "latency_variant": best_l,
        "latency_ms_variants": {k: [round(v[0], 4), round(v[1], 4)] for k, v in lat.items()},
        "peak_rss_mb": round(rss, 1), "flops_per_image": fimg,
    }
    print("JSON " + json.dumps(out, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
