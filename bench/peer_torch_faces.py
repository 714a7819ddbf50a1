#!/usr/bin/python3
"""peer_torch_faces.py — the PyTorch peer of bench/bench_faces.c: the face-cnn
network, the ORL images, the same pairs and batches, optimiser and losses,
measured the same way.

Network (models/face-cnn.json), He-normal weights (std sqrt(2/fan_in)), zero
dense bias, BN weight 1 / bias 0:
    4 x [Conv2d(3x3, padding 1, bias=False) BatchNorm2d(eps 1e-5, momentum 0.1)
         ReLU(inplace)] with MaxPool2d(2) after the first three, 32-64-128-256
    filters; mean over H, W (global average pool); Linear(256, 128);
    F.normalize(p=2, dim=1, eps=1e-12)  (facetwin's l2norm: x / max(||x||, eps))
Input 64x64 grey, (p/255 - 0.5)/0.25. The PGMs are read with numpy and
area-averaged to 64x64 (the same rule as facetwin's resize, not guaranteed
bit-identical; the speed does not depend on the pixel values).

Measured, with torch.set_num_threads(N) (--threads, default 2):
  pairs mode  pairs/s: every same-identity pair (1,800) and as many distinct
              different-identity pairs, shuffled (ft_pairs_balanced's rule,
              another random draw); 64 pairs per step as ONE forward of the
              128 images (as facetwin: with batch norm, two forwards of 64
              would be a different computation); contrastive loss, margin 1,
              d = sqrt(max(sum sq, 1e-7)); Adam(lr 1e-3, betas 0.9/0.999,
              eps 1e-7, as facetwin's defaults). The gather is in the step.
  in-batch    batches of exactly 64 images from group plans built by
              ft_group_plan_make's rule (each identity's images shuffled and
              cut into runs of 4, a trailing single image joining the previous
              run; runs shuffled and packed greedily into batches of <= 64),
              loss over all 2016 pairs of the batch as core/loss.c:
              1/2 mean over same-identity pairs of d^2 + 1/2 mean over the
              others of max(m - d, 0)^2 — vectorised through the Gram matrix
              (d^2 = |a|^2 + |b|^2 - 2 a.b on a 64x64 matrix, masked to i<j).
  Each training mode runs in the faster memory format (contiguous NCHW or
  channels_last), chosen by a short interleaved trial (--layout auto); the
  trial rates are reported. Fresh model and optimiser per mode, as facetwin.
  embeddings  images/s at batch 128 in eval mode under torch.no_grad(),
              torch.inference_mode() and as a frozen TorchScript module
              (torch.jit.optimize_for_inference), each in both memory
              formats; the best counts, every variant is reported.
  latency     batch 1, median and p90 ms over --latency-calls calls, same
              variants; the variant with the best median counts.
  peak RSS    getrusage ru_maxrss after the above (MiB).

Prints human-readable lines and one line "JSON {...}" with the same keys as
bench_faces. Needs Debian's python3-torch: run it with /usr/bin/python3.
Exit status 77 when the dataset is missing.
"""
import argparse
import json
import os
import random
import re
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# the same pair loss, embedding-rate and latency measurements as the MNIST peer
from peer_torch import contrastive, embed_rate, latency  # noqa: E402  (bench/ is on sys.path)

PAIRS = 64            # pairs per step, pairs mode
GROUP = 64            # images per step, in-batch mode
PER_CLASS = 4         # K
EMBED_BATCH = 128
SIZE = 64
MEAN, STD = 0.5, 0.25
LR = 1e-3
ADAM_EPS = 1e-7
MARGIN = 1.0
DIST_EPS = 1e-7
L2_EPS = 1e-12
SEED = 1234
SKIP = 77
MAX_PLAN_EPOCHS = 64
CL = torch.channels_last
LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": CL}


# ----------------------------------------------------------------- data ----

def natural_key(s):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def read_pgm(path):
    """Binary PGM (P5, 8-bit) -> uint8 array (h, w)."""
    with open(path, "rb") as f:
        data = f.read()
    fields, pos = [], 0
    while len(fields) < 4:  # magic, width, height, maxval; '#' comments allowed
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P5" or int(fields[3]) > 255:
        raise ValueError(f"{path}: not an 8-bit binary PGM")
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(data, dtype=np.uint8, count=w * h, offset=pos + 1).reshape(h, w)


def area_matrix(n_in, n_out):
    """(n_out, n_in) weights of area averaging: output i covers [i s, (i+1) s), s = n_in/n_out."""
    s = n_in / n_out
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        a, b = i * s, (i + 1) * s
        for j in range(int(a), min(n_in, int(np.ceil(b)))):
            m[i, j] = (min(b, j + 1) - max(a, j)) / s
    return m


def load_faces(directory):
    """DIR/<identity>/<image> in natural order -> (n,1,64,64) float tensor, labels."""
    xs, labels = [], []
    mats = {}
    ids = [d for d in sorted(os.listdir(directory), key=natural_key)
           if not d.startswith(".") and os.path.isdir(os.path.join(directory, d))]
    for label, d in enumerate(ids):
        p = os.path.join(directory, d)
        for f in sorted(os.listdir(p), key=natural_key):
            if f.startswith("."):
                continue
            img = read_pgm(os.path.join(p, f)).astype(np.float64)
            h, w = img.shape
            if (h, w) not in mats:
                mats[(h, w)] = (area_matrix(h, SIZE), area_matrix(w, SIZE))
            ry, rx = mats[(h, w)]
            small = np.clip(np.rint(ry @ img @ rx.T), 0, 255)
            xs.append(((small / 255.0 - MEAN) / STD).astype(np.float32))
            labels.append(label)
    x = torch.from_numpy(np.stack(xs)[:, None, :, :].copy())
    return x, np.array(labels, dtype=np.int64), len(ids)


def balanced_pairs(labels, rng):
    """ft_pairs_balanced(max_pos 0): every same-identity pair and as many
    distinct different-identity pairs, shuffled."""
    n = len(labels)
    pos = [(i, j) for i in range(n) for j in range(i + 1, n) if labels[i] == labels[j]]
    neg = set()
    while len(neg) < len(pos):
        i, j = rng.randrange(n), rng.randrange(n)
        if labels[i] != labels[j]:
            neg.add((min(i, j), max(i, j)))
    p = [(a, b, 1.0) for a, b in pos] + [(a, b, 0.0) for a, b in sorted(neg)]
    rng.shuffle(p)
    return (torch.tensor([q[0] for q in p]), torch.tensor([q[1] for q in p]),
            torch.tensor([q[2] for q in p], dtype=torch.float32))


def identity_runs(labels, classes, rng):
    """One epoch of ft_group_plan_make's runs: each class's images shuffled and cut
    into runs of PER_CLASS (a trailing single image joins the previous run), the
    runs shuffled."""
    runs = []
    for c in classes:
        m = [i for i in range(len(labels)) if labels[i] == c]
        rng.shuffle(m)
        for i in range(0, len(m), PER_CLASS):
            if len(m) - i == 1 and i > 0:
                runs[-1].append(m[i])
            else:
                runs.append(m[i:i + PER_CLASS])
    rng.shuffle(runs)
    return runs


def group_batches(labels, want, rng):
    """ft_group_plan_make's rule (per_class 4, batch 64), epoch after epoch;
    keeps the batches of exactly 64 images, up to `want`."""
    classes = sorted(set(labels.tolist()))
    out = []
    for _ in range(MAX_PLAN_EPOCHS):
        runs = identity_runs(labels, classes, rng)
        batch = []
        for r in runs:
            if batch and len(batch) + len(r) > GROUP:
                if len(batch) == GROUP:
                    out.append(batch)
                batch = []
            batch = batch + r
        if len(batch) == GROUP:
            out.append(batch)
        if len(out) >= want:
            break
    if not out:
        raise RuntimeError(f"no group batch of {GROUP} images")
    return torch.tensor(out[:want])


# ---------------------------------------------------------------- model ----

FILTERS = (32, 64, 128, 256)  # models/face-cnn.json


class FaceCNN(nn.Module):
    def __init__(self):
        super().__init__()
        layers, c = [], 1
        for i, f in enumerate(FILTERS):
            layers += [nn.Conv2d(c, f, 3, padding=1, bias=False),
                       nn.BatchNorm2d(f, eps=1e-5, momentum=0.1), nn.ReLU(inplace=True)]
            if i < 3:
                layers.append(nn.MaxPool2d(2))
            c = f
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(FILTERS[-1], 128)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        h = self.features(x).mean(dim=(2, 3))
        return F.normalize(self.fc(h), p=2.0, dim=1, eps=L2_EPS)


def flops_per_image():
    convs, c, hw = [], 1, SIZE
    for i, f in enumerate(FILTERS):
        convs.append(2 * f * c * 9 * hw * hw)
        c = f
        if i < 3:
            hw //= 2
    return convs[0], sum(convs) + 2 * FILTERS[-1] * 128


UPPER = torch.ones(GROUP, GROUP, dtype=torch.bool).triu(1)


def inbatch_contrastive(e, ids):
    """core/loss.c's in-batch loss over every i<j pair, from the Gram matrix."""
    sq = (e * e).sum(1)
    d2 = torch.clamp(sq[:, None] + sq[None, :] - 2.0 * (e @ e.t()), min=DIST_EPS)
    d = torch.sqrt(d2)
    same = ids[:, None] == ids[None, :]
    upper = UPPER if len(ids) == GROUP else torch.ones(len(ids), len(ids), dtype=torch.bool).triu(1)
    pos, neg = same & upper, ~same & upper
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    half = 0.5 if n_pos and n_neg else 1.0
    loss = d2.new_zeros(())
    if n_pos:
        loss = loss + (half / n_pos) * (d2 * pos).sum()
    if n_neg:
        loss = loss + (half / n_neg) * (torch.clamp(MARGIN - d, min=0.0).pow(2) * neg).sum()
    return loss


def new_model(layout):
    torch.manual_seed(SEED)
    m = FaceCNN().to(memory_format=LAYOUTS[layout])
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=LR, betas=(0.9, 0.999), eps=ADAM_EPS)
    return m, opt


class PairsStep:
    """One pairs-mode step: gather 2 x 64 images, one forward, loss, backward, Adam."""
    per_step = PAIRS

    def __init__(self, X, pa, pb, py):
        self.X, self.pa, self.pb, self.py = X, pa, pb, py
        self.nb = len(py) // PAIRS

    def __call__(self, model, opt, k, fmt):
        sl = slice((k % self.nb) * PAIRS, (k % self.nb + 1) * PAIRS)
        x = self.X.index_select(0, torch.cat((self.pa[sl], self.pb[sl])))
        e = model(x.contiguous(memory_format=fmt))
        loss = contrastive(e[:PAIRS], e[PAIRS:], self.py[sl])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()


class GroupStep:
    """One in-batch step: gather 64 images and ids, forward, loss over 2016 pairs, backward, Adam."""
    per_step = GROUP * (GROUP - 1) // 2

    def __init__(self, X, labels, groups):
        self.X, self.labels, self.groups = X, torch.from_numpy(labels), groups

    def __call__(self, model, opt, k, fmt):
        idx = self.groups[k % len(self.groups)]
        x = self.X.index_select(0, idx)
        ids = self.labels.index_select(0, idx)
        e = model(x.contiguous(memory_format=fmt))
        loss = inbatch_contrastive(e, ids)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()


def run_steps(step, model, opt, layout, first, n):
    times, losses = [], []
    fmt = LAYOUTS[layout]
    for s in range(n):
        t0 = time.perf_counter()
        losses.append(step(model, opt, first + s, fmt))
        times.append(time.perf_counter() - t0)
    return times, losses


def bench_training(step, args):
    """Chooses the layout (short interleaved trial), then warm-up + timed steps
    on a fresh model and optimiser. Returns (rate per_step units/s, images/s
    factor applied by caller, details)."""
    trial = {}
    if args.layout == "auto":
        half = max(1, args.trial_steps // 2)
        models = {lay: new_model(lay) for lay in LAYOUTS}
        for lay, (m, o) in models.items():  # warm-up of both: first-touch allocations
            run_steps(step, m, o, lay, 0, 2)
        k = 2
        for lay in list(LAYOUTS) * 2:  # interleaved: less drift bias
            m, o = models[lay]
            t, _ = run_steps(step, m, o, lay, k, half)
            k += half
            trial[lay] = trial.get(lay, 0.0) + sum(t)
        trial = {lay: 2 * half * step.per_step / s for lay, s in trial.items()}
        layout = max(trial, key=trial.get)
        del models
    else:
        layout = args.layout
    model, opt = new_model(layout)
    run_steps(step, model, opt, layout, 0, args.warmup)
    t0 = time.perf_counter()
    times, losses = run_steps(step, model, opt, layout, args.warmup, args.steps)
    total = time.perf_counter() - t0
    return {"rate": args.steps * step.per_step / total, "step_s": total / args.steps,
            "median_s": sorted(times)[len(times) // 2], "layout": layout, "trial": trial,
            "first_loss": losses[0], "last_loss": losses[-1]}


# ------------------------------------------------------------ inference ----

def inference_variants(X, no_jit):
    variants = {}
    for lay, fmt in LAYOUTS.items():
        torch.manual_seed(SEED)
        model = FaceCNN().to(memory_format=fmt).eval()
        suffix = "" if lay == "contiguous" else "_cl"

        def run_no_grad(x, model=model, fmt=fmt):
            with torch.no_grad():
                return model(x.contiguous(memory_format=fmt))

        def run_inference_mode(x, model=model, fmt=fmt):
            with torch.inference_mode():
                return model(x.contiguous(memory_format=fmt))

        variants["no_grad" + suffix] = run_no_grad
        variants["inference_mode" + suffix] = run_inference_mode
        if no_jit:
            continue
        try:
            with torch.no_grad():
                ex = X[:EMBED_BATCH].contiguous(memory_format=fmt)
                frozen = torch.jit.optimize_for_inference(
                    torch.jit.freeze(torch.jit.trace(model, ex)))

            def run_jit(x, frozen=frozen, fmt=fmt):
                with torch.no_grad():
                    return frozen(x.contiguous(memory_format=fmt))
            for _ in range(3):  # profiling runs of the TorchScript executor
                run_jit(X[:EMBED_BATCH])
                run_jit(X[:1])
            variants["jit_frozen" + suffix] = run_jit
        except Exception as e:  # older/other builds: report without it
            print(f"  (TorchScript variant {lay} skipped: {e})")
    return variants


# ----------------------------------------------------------------- main ----

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    shared = os.environ.get("FT_SHARED_DIR") or "../shared"
    ap.add_argument("--data", default=os.path.join(shared, "datasets", "orl"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--layout", choices=("auto",) + tuple(LAYOUTS), default="auto")
    ap.add_argument("--trial-steps", type=int, default=4, help="steps per layout in --layout auto")
    ap.add_argument("--embed-batches", type=int, default=30)
    ap.add_argument("--latency-calls", type=int, default=300)
    ap.add_argument("--breakdown", type=int, default=0, help="ignored (bench_faces's option)")
    ap.add_argument("--no-jit", action="store_true", help="skip the TorchScript inference variants")
    ap.add_argument("--label", default=os.environ.get("FT_PEER_LABEL", "torch"),
                    help="name of this configuration in the JSON (e.g. torch-tcmalloc)")
    args = ap.parse_args()

    if not os.path.isdir(args.data):
        print(f"peer_torch_faces: dataset {args.data} not found (pass --data DIR or set FT_SHARED_DIR)",
              file=sys.stderr)
        return SKIP
    torch.set_num_threads(args.threads)
    rng = random.Random(SEED)

    t_load = time.perf_counter()
    X, labels, n_ids = load_faces(args.data)
    t_load = time.perf_counter() - t_load
    pa, pb, py = balanced_pairs(labels, rng)
    groups = group_batches(labels, args.warmup + args.steps + 2 * args.trial_steps + 4, rng)
    n_pos = int(((torch.from_numpy(labels)[groups[0]][:, None] ==
                  torch.from_numpy(labels)[groups[0]][None, :]) & UPPER).sum())
    c1, fimg = flops_per_image()
    train_flops_img = 3 * fimg - c1
    malloc = ("tcmalloc" if "tcmalloc" in os.environ.get("LD_PRELOAD", "") else
              "glibc-tuned" if os.environ.get("MALLOC_MMAP_MAX_") is not None else "glibc")
    print(f"PyTorch {torch.__version__} peer: face-cnn, "
          f"{sum(p.numel() for p in FaceCNN().parameters())} parameters, "
          f"{fimg / 1e6:.2f} MFLOP/image forward, threads {torch.get_num_threads()}, malloc {malloc}")
    print(f"data: {args.data} ({X.shape[0]} images of {n_ids} identities, {SIZE}x{SIZE} input, "
          f"loaded in {t_load:.2f} s; {len(py)} balanced pairs; {len(groups)} group batches of {GROUP})")

    def trial_txt(r):
        return ("; layout " + r["layout"] + (" chosen from trial: " + ", ".join(
            f"{k} {v:.1f}" for k, v in r["trial"].items()) if r["trial"] else ""))

    pr = bench_training(PairsStep(X, pa, pb, py), args)
    pr_img = 2 * pr["rate"]
    print(f"pairs mode   {pr['rate']:9.1f} pairs/s   ({pr_img:.1f} images/s; batch {PAIRS} pairs = "
          f"{2 * PAIRS} images, Adam, {args.steps} steps after {args.warmup} warm-up; step mean "
          f"{pr['step_s'] * 1e3:.1f} ms, median {pr['median_s'] * 1e3:.1f} ms; "
          f"{train_flops_img * pr_img * 1e-9:.1f} GFLOP/s; loss {pr['first_loss']:.4f} -> "
          f"{pr['last_loss']:.4f}{trial_txt(pr)})")
    gr = bench_training(GroupStep(X, labels, groups), args)
    gr_img = gr["rate"] / GroupStep.per_step * GROUP
    print(f"in-batch     {gr['rate']:9.1f} pairs/s   ({gr_img:.1f} images/s; {GROUP} images = "
          f"{GroupStep.per_step} pairs per step, K = {PER_CLASS} per identity, {n_pos} same-identity "
          f"pairs in the first batch; step mean {gr['step_s'] * 1e3:.1f} ms, median "
          f"{gr['median_s'] * 1e3:.1f} ms; {train_flops_img * gr_img * 1e-9:.1f} GFLOP/s; loss "
          f"{gr['first_loss']:.4f} -> {gr['last_loss']:.4f}{trial_txt(gr)})")

    variants = inference_variants(X, args.no_jit)
    embed = {k: embed_rate(f, X, args.embed_batches) for k, f in variants.items()}
    lat = {k: latency(f, X, args.latency_calls) for k, f in variants.items()}
    best_e = max(embed, key=embed.get)
    best_l = min(lat, key=lambda k: lat[k][0])
    print(f"embeddings   {embed[best_e]:9.1f} images/s (batch {EMBED_BATCH}, {args.embed_batches} "
          f"batches, best: {best_e}; " + ", ".join(f"{k} {v:.1f}" for k, v in embed.items()) + ")")
    print(f"latency      {lat[best_l][0]:9.3f} ms median, {lat[best_l][1]:.3f} ms p90 (batch 1, "
          f"{args.latency_calls} calls, best: {best_l}; "
          + ", ".join(f"{k} {v[0]:.3f}/{v[1]:.3f}" for k, v in lat.items()) + ")")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"peak RSS     {rss:9.1f} MiB")

    r2 = lambda v: round(v, 2)
    out = {
        "impl": args.label, "torch": torch.__version__, "malloc": malloc, "model": "face-cnn",
        "threads": torch.get_num_threads(), "images": int(X.shape[0]), "identities": n_ids,
        "flops_per_image": fimg,
        "batch_pairs": PAIRS, "train_steps": args.steps, "train_pairs_per_s": r2(pr["rate"]),
        "train_images_per_s": r2(pr_img), "train_step_ms": round(pr["step_s"] * 1e3, 3),
        "train_step_ms_median": round(pr["median_s"] * 1e3, 3),
        "train_gflops": r2(train_flops_img * pr_img * 1e-9), "train_mode": pr["layout"],
        "train_trial_pairs_per_s": {k: r2(v) for k, v in pr["trial"].items()},
        "inbatch_images": GROUP, "inbatch_pairs_per_step": GroupStep.per_step,
        "inbatch_pos_pairs": n_pos, "inbatch_pairs_per_s": r2(gr["rate"]),
        "inbatch_images_per_s": r2(gr_img), "inbatch_step_ms": round(gr["step_s"] * 1e3, 3),
        "inbatch_step_ms_median": round(gr["median_s"] * 1e3, 3),
        "inbatch_gflops": r2(train_flops_img * gr_img * 1e-9), "inbatch_mode": gr["layout"],
        "inbatch_loss_variant": "gram",
        "inbatch_trial_pairs_per_s": {k: r2(v) for k, v in gr["trial"].items()},
        "embed_batch": EMBED_BATCH, "embed_per_s": r2(embed[best_e]), "embed_variant": best_e,
        "embed_per_s_variants": {k: r2(v) for k, v in embed.items()},
        "latency_ms_median": round(lat[best_l][0], 4), "latency_ms_p90": round(lat[best_l][1], 4),
        "latency_variant": best_l,
        "latency_ms_variants": {k: [round(v[0], 4), round(v[1], 4)] for k, v in lat.items()},
        "peak_rss_mb": round(rss, 1),
    }
    print("JSON " + json.dumps(out, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
