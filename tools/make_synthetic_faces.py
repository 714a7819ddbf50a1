#!/usr/bin/env python3
"""make_synthetic_faces.py -- a large identity-folder dataset made from ORL,
for measuring streaming (memory and loader throughput), NOT accuracy.

    python3 tools/make_synthetic_faces.py ORL_DIR OUT_DIR [--identities N]

Writes N identity folders (default 2000) of 10 grey PGM images each into
OUT_DIR (20,000 images by default, ~200 MB). Synthetic identity k is ORL
person k % 40 seen through one fixed transform applied to all ten of its
images: a crop window shifted by (dx, dy) in 0..4 px, an optional mirror and
an intensity curve (gamma) -- 40 people x 50 variants. Pure standard library
(bytes slicing and translate tables), deterministic, no randomness.

Variants of one person are different "identities" here only by name: the set
is for measuring how training behaves as the number of images grows (peak
RSS, loader wait), never for accuracy figures.
"""
import argparse
import os
import sys

CROP_W, CROP_H = 88, 108  # ORL is 92 x 112: room for 0..4 px shifts


def read_pgm(path):
    with open(path, "rb") as f:
        data = f.read()
    parts, pos = [], 0
    while len(parts) < 4:  # magic, width, height, maxval (no comments in ORL)
        while data[pos:pos + 1].isspace():
            pos += 1
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        parts.append(data[start:pos])
    if parts[0] != b"P5":
        raise ValueError(f"{path}: not a binary PGM")
    w, h = int(parts[1]), int(parts[2])
    pix = data[pos + 1:pos + 1 + w * h]
    if len(pix) != w * h:
        raise ValueError(f"{path}: truncated")
    return w, h, pix


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("orl")
    ap.add_argument("out")
    ap.add_argument("--identities", type=int, default=2000)
    a = ap.parse_args()
    people = sorted((d for d in os.listdir(a.orl) if os.path.isdir(os.path.join(a.orl, d))),
                    key=lambda s: (len(s), s))
    if not people:
        sys.exit(f"{a.orl}: no identity folders")
    images = {}
    for p in people:
        files = sorted(f for f in os.listdir(os.path.join(a.orl, p)) if f.endswith(".pgm"))
        images[p] = [read_pgm(os.path.join(a.orl, p, f)) for f in files]
    variants = [(dx, dy, flip) for dx in range(5) for dy in range(5) for flip in (0, 1)]
    os.makedirs(a.out, exist_ok=True)
    n = 0
    for k in range(a.identities):
        person = people[k % len(people)]
        dx, dy, flip = variants[(k // len(people)) % len(variants)]
        gamma = 0.7 + 0.6 * ((k * 7919) % 101) / 100.0
        lut = bytes(min(255, int(255.0 * (v / 255.0) ** gamma + 0.5)) for v in range(256))
        d = os.path.join(a.out, f"id{k:05d}")
        os.makedirs(d, exist_ok=True)
        for i, (w, h, pix) in enumerate(images[person]):
            rows = []
            for y in range(dy, dy + CROP_H):
                row = pix[y * w + dx:y * w + dx + CROP_W]
                rows.append(row[::-1] if flip else row)
            body = b"".join(rows).translate(lut)
            with open(os.path.join(d, f"{i + 1}.pgm"), "wb") as f:
                f.write(b"P5\n%d %d\n255\n" % (CROP_W, CROP_H) + body)
            n += 1
    print(f"wrote {n} images of {a.identities} identities to {a.out}")


if __name__ == "__main__":
    main()
