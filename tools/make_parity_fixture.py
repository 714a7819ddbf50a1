#!/usr/bin/python3
"""make_parity_fixture.py -- PyTorch reference for tests/test_parity.c (llm.c style).

Run by hand with the system Python that has torch (Debian python3-torch):

    /usr/bin/python3 tools/make_parity_fixture.py [OUT]     (OUT: tests/fixtures/parity.bin)

It builds two small Siamese encoders in PyTorch, written directly from the
facetwin spec semantics (include/facetwin/net.h, include/facetwin/layers.h),
fixes their weights with a seed, runs ONE training step's worth of
computation on a batch of B pairs -- the 2B images as one batch, left sides
then right sides, exactly as ft_trainer_step does -- and records everything
the C side must reproduce:

  net "a" (RGB 3x12x10, non-square): conv2d without bias, batchnorm (4-D, then
      2-D with custom momentum/eps), in-place and out-of-place relu, grouped
      conv, scale, residual add, maxpool, depthwise strided conv, avgpool with
      padding (count_include_pad), a 1x1 strided projection shortcut
      ("input": k), gap, dense without and with bias, l2norm.
  net "b" (grey 1x7x9): conv2d without bias, a second conv reading the network
      input ("input": -1) added to the first, scale without bias, maxpool with
      padding, flatten, dense without bias, dense, l2norm with a custom eps.

No bias feeds a training-mode batchnorm through linear layers only: its true
gradient would be exactly 0 and float32 noise (~1e-6) cannot be checked with
a relative tolerance (the script asserts every gradient is non-trivial).

Dropout is the only layer type left out: its masks come from facetwin's own
RNG and cannot be reproduced in torch (its arithmetic is covered by
test_layers.c).

Precision. Every input of the computation (weights, running stats, images,
margin) is drawn, rounded to float32 and stored as float32; the reference is
then computed in float64 from exactly those float32 values and the results
are rounded to float32 for storage. The expected values are therefore the
exact answer (to float32 rounding) for the inputs the C code receives, so the
measured error is facetwin's own float32 error, not a mix of two float32
implementations' rounding.

The script also guards against ill-conditioned fixtures: every relu input and
every maxpool window must be decided by a clear margin (no value within 1e-4
of zero / of the runner-up), and the contrastive margin is chosen so that one
negative pair lies inside it and one outside, each clearly.

File format (all little-endian):
    char[8]  magic "FTPARITY"
    u32      version (1)
    u32      record count
    records: u16 name length, name bytes (ASCII, no NUL),
             u8 kind (0 = float32 tensor, 1 = raw bytes),
             u8 ndim, u32 dims[ndim],
             payload: prod(dims) float32 values (kind 0) or dims[0] bytes (kind 1)
Records "batchpairs/{e,ids,margin,loss,grad}" hold the in-batch contrastive
loss: 10 embeddings, their identity labels (as floats), the margin (half-way between the two
middle negative distances, so hinges are both active and not), the loss and dL/de.
Record names, for each net N in {a, b}:
    N/spec                 (bytes) the facetwin spec JSON, parsed by ft_net_from_json
    N/w/<tensor>           initial value of every facetwin tensor ("0.weight",
                           "1.running_mean", ...) -- all of ft_net_params
    N/x                    (2B, C, H, W) the images: left sides, then right sides
    N/y                    (B) labels, 1 = same, 0 = different
    N/margin               (1)
    N/embed_train          (2B, D) embeddings, training-mode forward
    N/dist                 (B) pair distances from embed_train
    N/loss                 (1) mean contrastive loss
    N/grad/<tensor>        dloss/dtensor for every trainable tensor
    N/after/<tensor>       running_mean / running_var after the training forward
    N/embed_eval           (2B, D) embeddings, inference mode (running stats
                           after the training forward), same images
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

SEED = 15                  # chosen (by trying 1..60) so that every guard below passes
B = 4                      # pairs per batch -> 2B images
LABELS = [1.0, 0.0, 1.0, 0.0]
DIST_EPS = 1e-7            # FT_DIST_EPS
DECISION_GAP = 1e-4        # relu / maxpool decisions must be clearer than this

NET_A = {
    "name": "parity-a",
    "input": {"width": 10, "height": 12, "channels": 3, "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]},
    "layers": [
        {"type": "conv2d", "filters": 8, "kernel": 3, "padding": 1, "bias": False},     # 0  8x12x10
        {"type": "batchnorm"},                                                          # 1
        {"type": "relu"},                                                               # 2  in place
        {"type": "conv2d", "filters": 8, "kernel": 3, "padding": 1, "groups": 2},       # 3
        {"type": "scale"},                                                              # 4
        {"type": "add", "from": 2},                                                     # 5  residual
        {"type": "maxpool", "kernel": 2},                                               # 6  8x6x5
        {"type": "relu"},                                                               # 7  6 has 2 consumers: not in place
        {"type": "conv2d", "filters": 8, "kernel": 3, "stride": 2, "padding": 1,
         "groups": 8},                                                                  # 8  depthwise 8x3x3
        {"type": "relu"},                                                               # 9  in place
        {"type": "avgpool", "kernel": 3, "stride": 1, "padding": 1},                    # 10 8x3x3
        {"type": "conv2d", "filters": 8, "kernel": 1, "stride": 2, "input": 6},         # 11 projection 8x3x3
        {"type": "add", "from": 10},                                                    # 12
        {"type": "relu"},                                                               # 13 in place
        {"type": "gap"},                                                                # 14 8
        {"type": "dense", "units": 6, "bias": False},                                   # 15
        {"type": "batchnorm", "momentum": 0.2, "eps": 0.001},                           # 16 2-D input
        {"type": "relu"},                                                               # 17 in place
        {"type": "dense", "units": 5},                                                  # 18
        {"type": "l2norm"},                                                             # 19
    ],
}

NET_B = {
    "name": "parity-b",
    "input": {"width": 9, "height": 7, "channels": 1},
    "layers": [
        {"type": "conv2d", "filters": 4, "kernel": 3, "stride": 2, "padding": 1, "bias": False},  # 0 4x4x5
        {"type": "conv2d", "filters": 4, "kernel": 1, "stride": 2, "input": -1},        # 1 4x4x5 (net input)
        {"type": "add", "from": 0},                                                     # 2
        {"type": "scale", "bias": False},                                               # 3
        {"type": "maxpool", "kernel": 3, "stride": 2, "padding": 1},                    # 4 4x2x3
        {"type": "relu"},                                                               # 5
        {"type": "flatten"},                                                            # 6 24
        {"type": "dense", "units": 7, "bias": False},                                   # 7
        {"type": "relu"},                                                               # 8
        {"type": "dense", "units": 4},                                                  # 9
        {"type": "l2norm", "eps": 1e-6},                                                # 10
    ],
}


def f32(a):
    """Rounds to float32 and returns float64 (the exact value the C side sees)."""
    return torch.as_tensor(np.asarray(a, dtype=np.float32), dtype=torch.float64)


class Checks:
    def __init__(self):
        self.min_relu = float("inf")
        self.min_pool = float("inf")
        self.min_bn_std = float("inf")

    def bn_input(self, x):
        dims = (0,) if x.dim() == 2 else (0, 2, 3)
        self.min_bn_std = min(self.min_bn_std, x.detach().std(dim=dims).min().item())

    def relu_input(self, x):
        self.min_relu = min(self.min_relu, x.detach().abs().min().item())

    def maxpool_input(self, x, k, s, p):
        # gap between the largest and second largest value of every window
        xp = F.pad(x.detach(), (p, p, p, p), value=float("-inf"))
        win = xp.unfold(2, k, s).unfold(3, k, s).reshape(*xp.shape[:2], -1, k * k)
        top = win.topk(2, dim=-1).values
        gap = (top[..., 0] - top[..., 1])
        self.min_pool = min(self.min_pool, gap.min().item())


def make_params(spec, rng):
    """Draws every facetwin tensor of the spec: {name: float64 tensor (float32-exact)}."""
    inp = spec["input"]
    shapes = {-1: (inp["channels"], inp["height"], inp["width"])}
    params = {}
    for i, L in enumerate(spec["layers"]):
        src = L.get("input", i - 1)
        c, h, w = shapes[src]
        t = L["type"]
        if t == "conv2d":
            k, s, p, g = L["kernel"], L.get("stride", 1), L.get("padding", 0), L.get("groups", 1)
            oc = L["filters"]
            fan_in = (c // g) * k * k
            params[f"{i}.weight"] = f32(rng.uniform(-1, 1, (oc, c // g, k, k)) * np.sqrt(3.0 / fan_in))
            if L.get("bias", True):
                params[f"{i}.bias"] = f32(rng.uniform(-0.3, 0.3, oc))
            out = (oc, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
        elif t == "dense":
            n_in = c * h * w
            params[f"{i}.weight"] = f32(rng.uniform(-1, 1, (L["units"], n_in)) * np.sqrt(3.0 / n_in))
            if L.get("bias", True):
                params[f"{i}.bias"] = f32(rng.uniform(-0.3, 0.3, L["units"]))
            out = (L["units"], 1, 1)
        elif t == "batchnorm":
            params[f"{i}.weight"] = f32(rng.uniform(0.5, 1.5, c) * rng.choice([-1, 1], c, p=[0.2, 0.8]))
            params[f"{i}.bias"] = f32(rng.uniform(-0.4, 0.4, c))
            params[f"{i}.running_mean"] = f32(rng.normal(0, 0.3, c))
            params[f"{i}.running_var"] = f32(rng.uniform(0.5, 2.0, c))
            out = (c, h, w)
        elif t == "scale":
            params[f"{i}.weight"] = f32(rng.uniform(0.5, 1.5, c) * rng.choice([-1, 1], c))
            if L.get("bias", True):
                params[f"{i}.bias"] = f32(rng.uniform(-0.3, 0.3, c))
            out = (c, h, w)
        elif t in ("maxpool", "avgpool"):
            k = L["kernel"]
            s, p = L.get("stride", k), L.get("padding", 0)
            out = (c, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
        elif t in ("gap",):
            out = (c, 1, 1)
        elif t in ("flatten", "l2norm"):
            out = (c * h * w, 1, 1)
        else:  # relu, add
            out = (c, h, w)
        shapes[i] = out
    return params


def forward(spec, P, x, training, checks=None, momentum_state=None):
    """Forward pass of a facetwin spec in torch (float64). P: {name: tensor}
    (trainable ones may require grad); running stats are updated in place in
    P when training (as PyTorch's BatchNorm with unbiased running variance)."""
    outs = {-1: x}
    for i, L in enumerate(spec["layers"]):
        t = L["type"]
        a = outs[L.get("input", i - 1)]
        if t == "conv2d":
            y = F.conv2d(a, P[f"{i}.weight"], P.get(f"{i}.bias"), stride=L.get("stride", 1),
                         padding=L.get("padding", 0), groups=L.get("groups", 1))
        elif t == "dense":
            y = F.linear(a.reshape(a.shape[0], -1), P[f"{i}.weight"], P.get(f"{i}.bias"))
        elif t == "relu":
            if checks:
                checks.relu_input(a)
            y = F.relu(a)
        elif t == "flatten":
            y = a.reshape(a.shape[0], -1)
        elif t == "gap":
            y = a.mean(dim=(2, 3))
        elif t == "l2norm":
            y = F.normalize(a.reshape(a.shape[0], -1), p=2.0, dim=1, eps=L.get("eps", 1e-12))
        elif t == "maxpool":
            k = L["kernel"]
            s, p = L.get("stride", k), L.get("padding", 0)
            if checks:
                checks.maxpool_input(a, k, s, p)
            y = F.max_pool2d(a, k, s, p)
        elif t == "avgpool":
            k = L["kernel"]
            s, p = L.get("stride", k), L.get("padding", 0)
            y = F.avg_pool2d(a, k, s, p, count_include_pad=True)
        elif t == "batchnorm":
            if checks:
                checks.bn_input(a)
            # F.batch_norm updates running_mean/var in place (unbiased var), as facetwin
            y = F.batch_norm(a, P[f"{i}.running_mean"], P[f"{i}.running_var"], P[f"{i}.weight"],
                             P[f"{i}.bias"], training=training, momentum=L.get("momentum", 0.1),
                             eps=L.get("eps", 1e-5))
        elif t == "scale":
            shp = (1, -1) + (1,) * (a.dim() - 2)
            y = a * P[f"{i}.weight"].reshape(shp)
            if f"{i}.bias" in P:
                y = y + P[f"{i}.bias"].reshape(shp)
        elif t == "add":
            y = a + outs[L["from"]]
        else:
            raise ValueError(f"layer type {t} not supported by the parity fixture")
        outs[i] = y
    return outs[len(spec["layers"]) - 1]


def contrastive(e, y, margin):
    a, b = e[:B], e[B:]
    d = torch.sqrt(torch.clamp_min(((a - b) ** 2).sum(dim=1), DIST_EPS))
    loss = (y * d ** 2 + (1 - y) * torch.clamp_min(margin - d, 0) ** 2).mean()
    return d, loss


def build(tag, spec, rng, records):
    inp = spec["input"]
    C, H, W = inp["channels"], inp["height"], inp["width"]
    params = make_params(spec, rng)
    init = {k: v.clone() for k, v in params.items()}
    # images: left sides random; positives' right side = left + noise, negatives' fresh
    left = rng.normal(0, 1, (B, C, H, W))
    right = np.empty_like(left)
    for i in range(B):
        right[i] = left[i] + rng.normal(0, 0.5, (C, H, W)) if LABELS[i] else rng.normal(0, 1, (C, H, W))
    x = f32(np.concatenate([left, right]))
    y = f32(LABELS)

    # pass 0 (no side effects) to choose the margin between the two negatives' distances
    with torch.no_grad():
        P0 = {k: v.clone() for k, v in params.items()}
        d0, _ = contrastive(forward(spec, P0, x, True), y, 1.0)
    neg = sorted(d0[i].item() for i in range(B) if not LABELS[i])
    assert neg[1] - neg[0] > 0.05, f"{tag}: negatives' distances too close: {neg}"
    margin = f32([(neg[0] + neg[1]) / 2])[0]

    trainable = [k for k in params if not k.endswith(("running_mean", "running_var"))]
    for k in trainable:
        params[k].requires_grad_(True)
    checks = Checks()
    e = forward(spec, params, x, True, checks)
    d, loss = contrastive(e, y, margin)
    loss.backward()
    assert checks.min_relu > DECISION_GAP, f"{tag}: a relu input is {checks.min_relu:g} from 0"
    assert checks.min_bn_std > 0.05, f"{tag}: a batchnorm channel is nearly constant"
    assert checks.min_pool > DECISION_GAP, f"{tag}: a maxpool window is decided by {checks.min_pool:g}"
    # every gradient must be non-trivial: a parameter feeding a training-mode
    # batchnorm linearly (a bias before it) has an exactly-zero gradient, which
    # a relative float32 comparison cannot check
    gmax = max(params[k].grad.abs().max().item() for k in trainable)
    for k in trainable:
        assert params[k].grad.abs().max().item() > 1e-3 * gmax, f"{tag}: gradient of {k} is ~0"
    with torch.no_grad():
        e_eval = forward(spec, params, x, False)

    spec_text = json.dumps(spec, separators=(",", ":"))
    records.append((f"{tag}/spec", spec_text.encode()))
    for k, v in init.items():
        records.append((f"{tag}/w/{k}", v))
    records.append((f"{tag}/x", x))
    records.append((f"{tag}/y", y))
    records.append((f"{tag}/margin", margin.reshape(1)))
    records.append((f"{tag}/embed_train", e.detach()))
    records.append((f"{tag}/dist", d.detach()))
    records.append((f"{tag}/loss", loss.detach().reshape(1)))
    for k in trainable:
        records.append((f"{tag}/grad/{k}", params[k].grad))
    for k in params:
        if k.endswith(("running_mean", "running_var")):
            records.append((f"{tag}/after/{k}", params[k].detach()))
    records.append((f"{tag}/embed_eval", e_eval))

    n_w = sum(v.numel() for k, v in init.items() if k in trainable)
    print(f"net {tag} ({spec['name']}): {len(spec['layers'])} layers, input {C}x{H}x{W}, "
          f"embedding {e.shape[1]}, {n_w} trainable floats, {len(init)} tensors")
    print(f"  distances {[round(v, 4) for v in d.tolist()]}, labels {LABELS}, margin {margin.item():.4f}, "
          f"loss {loss.item():.6f}")
    def show(v):
        return "n/a" if v == float("inf") else f"{v:.3g}"
    print(f"  closest relu decision {show(checks.min_relu)}, closest maxpool decision "
          f"{show(checks.min_pool)}, smallest batchnorm channel std {show(checks.min_bn_std)}")


def batch_pairs(tag, rng, records):
    """The in-batch contrastive loss (ft_contrastive_batch_*): every pair i<j of
    N embeddings, positives and negatives each averaged over their own count."""
    N, D = 10, 8
    e = f32(rng.normal(0, 0.5, (N, D))).requires_grad_(True)
    ids = [0, 1, 0, 2, 1, 0, 3, 2, 1, 3]
    iu = torch.triu_indices(N, N, 1)
    diff = e[iu[0]] - e[iu[1]]
    d = torch.sqrt(torch.clamp_min((diff ** 2).sum(dim=1), DIST_EPS))
    same = torch.tensor([float(ids[i] == ids[j]) for i, j in iu.t().tolist()])
    nd = sorted(d[same == 0].tolist())
    k = len(nd) // 2
    assert nd[k] - nd[k - 1] > 1e-3, f"{tag}: middle negatives too close"
    med = f32([(nd[k - 1] + nd[k]) / 2])[0]  # margin between the two middle negatives
    hinge = torch.clamp_min(med - d, 0)
    loss = 0.5 * (same * d ** 2).sum() / same.sum() + 0.5 * ((1 - same) * hinge ** 2).sum() / (1 - same).sum()
    loss.backward()
    records.append((f"{tag}/e", e.detach()))
    records.append((f"{tag}/ids", torch.tensor(ids, dtype=torch.float64)))
    records.append((f"{tag}/margin", med.reshape(1)))
    records.append((f"{tag}/loss", loss.detach().reshape(1)))
    records.append((f"{tag}/grad", e.grad))
    print(f"in-batch loss {tag}: {N} embeddings of {D}, {int(same.sum())} positive / "
          f"{int((1 - same).sum())} negative pairs, margin {med.item():.4f}, loss {loss.item():.6f}")


def write(path, records):
    buf = bytearray(b"FTPARITY")
    buf += struct.pack("<II", 1, len(records))
    for name, v in records:
        nb = name.encode("ascii")
        buf += struct.pack("<H", len(nb)) + nb
        if isinstance(v, bytes):
            buf += struct.pack("<BBI", 1, 1, len(v)) + v
        else:
            a = v.detach().cpu().numpy().astype("<f4")
            buf += struct.pack("<BB", 0, a.ndim) + struct.pack(f"<{a.ndim}I", *a.shape)
            buf += a.tobytes()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(buf)
    return len(buf)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "fixtures", "parity.bin")
    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(SEED)
    records = []
    build("a", NET_A, rng, records)
    build("b", NET_B, rng, records)
    batch_pairs("batchpairs", rng, records)
    n = write(out, records)
    assert n < 1 << 20
    print(f"torch {torch.__version__}, float64 reference from float32 inputs; "
          f"{len(records)} records, {n} bytes -> {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
