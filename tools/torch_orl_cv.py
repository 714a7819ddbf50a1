#!/usr/bin/python3
"""torch_orl_cv.py -- face-cnn trained in PyTorch on facetwin's ORL folds: is the
from-scratch ranking (AUC) limited by facetwin's training or by the recipe?

Run by hand (needs Debian's python3-torch, a few minutes per fold on 2 cores):
    /usr/bin/python3 tools/torch_orl_cv.py --cv-json cv.json [--folds 1,2,3] [--epochs 60]
cv.json is the output of `facetwin cv --data ../shared/datasets/orl --arch face-cnn
--folds 10 --json`: its per-fold test people are used here, so both sides are scored on
the same unseen people. The recipe is facetwin's `cv` default, rebuilt with the
benchmark peer's pieces (bench/peer_torch_faces.py: the same network, He init,
input rule and in-batch loss):
  - 4 validation people drawn (seeded) from the 36 others, 32 train;
  - in-batch pairs, batches of up to 32 images packed from runs of 4 images of one
    person (ft_group_plan_make's rule), Adam lr 1e-3 eps 1e-7, margin 1, 60 epochs;
  - the loader's augmentation on the 64x64 input: shift +-4 px and zoom +-12%
    (bilinear, edges clamped), flip p 0.5, brightness +-0.1 and contrast +-10%;
  - the epoch with the lowest validation pair loss kept (all same-person pairs of the
    validation people + as many random different-person pairs);
  - test pairs: all 180 same-person pairs of the fold's 4 people + 180 random others;
    AUC, EER and the best-threshold (oracle) accuracy, threshold-free figures only.
Prints one line per fold and a JSON summary. Not part of the test suite.
"""
import argparse
import json
import math
import os
import random
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import peer_torch_faces as P  # noqa: E402

SHIFT_PX = 4
ZOOM = 0.12
BRIGHTNESS = 0.1
CONTRAST = 0.1


def plan_epoch(labels, people, batch, rng):
    """Runs of up to 4 images of one person, shuffled, packed greedily into batches."""
    out, cur = [], []
    for r in P.identity_runs(labels, people, rng):
        if cur and len(cur) + len(r) > batch:
            out.append(cur)
            cur = []
        cur = cur + r
    if cur:
        out.append(cur)
    return [b for b in out if len(set(labels[i] for i in b)) > 1]


def augment(x, gen):
    """The loader's moves on a (n,1,64,64) normalised batch."""
    n, _, h, w = x.shape
    d = torch.randint(-SHIFT_PX, SHIFT_PX + 1, (n, 2), generator=gen).float()
    flip = torch.rand(n, generator=gen) < 0.5
    bright = BRIGHTNESS * (2 * torch.rand(n, generator=gen) - 1)
    scale = 1 + CONTRAST * (2 * torch.rand(n, generator=gen) - 1)
    zoom = 1 + ZOOM * (2 * torch.rand(n, generator=gen) - 1)
    # output pixel (i, y) samples the source at ((i - c - dx)/s + c, ...): in align_corners
    # coordinates u = i/(w-1)*2-1, that is u/s - dx*2/(w-1)/s
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = 1 / zoom
    theta[:, 1, 1] = 1 / zoom
    theta[:, 0, 2] = -d[:, 0] * 2 / (w - 1) / zoom
    theta[:, 1, 2] = -d[:, 1] * 2 / (h - 1) / zoom
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
    y = torch.where(flip[:, None, None, None], y.flip(3), y)
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    return (y - mean) * scale[:, None, None, None] + mean + (bright / P.STD)[:, None, None, None]


def pairs_of(labels, people, rng):
    idx = [i for i in range(len(labels)) if labels[i] in people]
    pos = [(a, b) for k, a in enumerate(idx) for b in idx[k + 1:] if labels[a] == labels[b]]
    neg = set()
    while len(neg) < len(pos):
        a, b = rng.choice(idx), rng.choice(idx)
        if labels[a] != labels[b]:
            neg.add((min(a, b), max(a, b)))
    return pos, sorted(neg)


def distances(model, X, pairs):
    model.eval()
    with torch.no_grad():
        e = torch.cat([model(X[i:i + 128]) for i in range(0, len(X), 128)])
    model.train()
    a = torch.tensor([p[0] for p in pairs])
    b = torch.tensor([p[1] for p in pairs])
    return torch.sqrt(torch.clamp(((e[a] - e[b]) ** 2).sum(1), min=P.DIST_EPS)).numpy()


def roc_figures(dpos, dneg):
    """AUC (ties count half), EER and best-threshold accuracy, d < t means same."""
    auc = float(np.mean([(dp < dneg).mean() + 0.5 * (dp == dneg).mean() for dp in dpos]))
    ts = np.unique(np.concatenate([dpos, dneg]))
    best, eer, gap = 0.0, 1.0, 2.0
    for t in np.concatenate([ts, [ts[-1] + 1]]):
        frr = (dpos >= t).mean()
        far = (dneg < t).mean()
        best = max(best, 1 - (frr + far) / 2)
        if abs(frr - far) < gap:
            gap, eer = abs(frr - far), (frr + far) / 2
    return auc, eer, best


def run_fold(X, labels, names, test_people, args, fold):
    rng = random.Random(args.seed * 1000 + fold)
    gen = torch.Generator().manual_seed(args.seed * 1000 + fold)
    torch.manual_seed(args.seed * 1000 + fold)
    others = [p for p in range(len(names)) if p not in test_people]
    val = set(rng.sample(others, args.val_identities))
    train = [p for p in others if p not in val]
    model = P.FaceCNN()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=P.LR, betas=(0.9, 0.999), eps=P.ADAM_EPS)
    vpos, vneg = pairs_of(labels, val, rng)
    tpos, tneg = pairs_of(labels, set(test_people), rng)
    lab = torch.from_numpy(labels)
    best = (math.inf, None, 0)
    for epoch in range(args.epochs):
        for b in plan_epoch(labels, train, args.batch, rng):
            idx = torch.tensor(b)
            e = model(augment(X.index_select(0, idx), gen))
            loss = P.inbatch_contrastive(e, lab.index_select(0, idx))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        dp, dn = distances(model, X, vpos), distances(model, X, vneg)
        vloss = 0.5 * (dp ** 2).mean() + 0.5 * (np.clip(P.MARGIN - dn, 0, None) ** 2).mean()
        if vloss < best[0]:
            best = (vloss, {k: v.clone() for k, v in model.state_dict().items()}, epoch + 1)
    model.load_state_dict(best[1])
    auc, eer, acc = roc_figures(distances(model, X, tpos), distances(model, X, tneg))
    return {"fold": fold, "test_people": ",".join(names[p] for p in test_people),
            "best_epoch": best[2], "auc": auc, "eer": eer, "best_accuracy": acc}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cv-json", required=True, help="facetwin cv --json output (per-fold test people)")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   "..", "..", "shared", "datasets", "orl"))
    ap.add_argument("--folds", default="", help="1-based fold numbers, comma-separated (default: all)")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--val-identities", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not os.path.isdir(args.data):
        print(f"{args.data}: ORL not found", file=sys.stderr)
        return P.SKIP
    X, labels, _ = P.load_faces(args.data)
    names = [d for d in sorted(os.listdir(args.data), key=P.natural_key)
             if not d.startswith(".") and os.path.isdir(os.path.join(args.data, d))]
    with open(args.cv_json) as f:
        cv = json.load(f)
    # facetwin cv --json: "per_fold" at the top; with --backbone, under "pipeline"
    folds = cv.get("per_fold") or cv["pipeline"]["per_fold"]
    want = {int(k) for k in args.folds.split(",") if k} or {f["fold"] + 1 for f in folds}
    out = []
    for f in folds:
        if f["fold"] + 1 not in want:
            continue
        test = [names.index(p) for p in f["test_people"].split(",")]
        r = run_fold(X, labels, names, test, args, f["fold"] + 1)
        r["facetwin_auc"], r["facetwin_best_accuracy"] = f["auc"], f["best_accuracy"]
        out.append(r)
        print(f"fold {r['fold']} ({r['test_people']}): torch AUC {r['auc']:.4f} EER {r['eer']:.3f} "
              f"oracle {r['best_accuracy']:.3f} (best epoch {r['best_epoch']}); "
              f"facetwin AUC {f['auc']:.4f} oracle {f['best_accuracy']:.3f}", flush=True)
    summary = {k: {"mean": float(np.mean([r[k] for r in out])), "std": float(np.std([r[k] for r in out]))}
               for k in ("auc", "eer", "best_accuracy", "facetwin_auc", "facetwin_best_accuracy")}
    print(json.dumps({"folds": out, "summary": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
