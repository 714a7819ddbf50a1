#!/usr/bin/env bash
# Bad input through the CLI: every case must give exit status 1 and one line
# on stderr naming the file and the reason — never a crash (under ASan too).
. "$(dirname "$0")/lib_cli.sh"
MNIST=$SHARED/datasets/mnist-10k
if [ ! -d "$MNIST" ]; then echo "SKIP: dataset $MNIST not found (set FT_SHARED_DIR)"; exit 77; fi

# a small real model to feed images to
"$FT" train --data "$MNIST" --arch seed-mnist --out "$TMP/m.ftw" --epochs 1 --pairs-per-epoch 256 \
  --batch 64 --val-fraction 0 --no-test --quiet >/dev/null 2>&1 || { echo "could not train a model"; exit 1; }

# --- images
printf 'P5\n4 4\n255\n' > "$TMP/trunc.pgm"; head -c 5 /dev/zero >> "$TMP/trunc.pgm"
printf 'P5\n100000 100000\n255\n' > "$TMP/huge.pgm"
: > "$TMP/empty.png"
echo "hello, I am not an image" > "$TMP/text.jpg"
printf '\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR' > "$TMP/trunc.png"
printf '\xff\xd8\xff\xe0\x00\x10JFIF\x00' > "$TMP/trunc.jpg"
printf 'P6\n2 2\n255\n' > "$TMP/good.ppm"; head -c 12 /dev/urandom >> "$TMP/good.ppm"
expect_error "truncated PGM" "trunc.pgm" "$FT" embed --model "$TMP/m.ftw" "$TMP/trunc.pgm"
expect_error "100000x100000 PGM" "huge.pgm" "$FT" embed --model "$TMP/m.ftw" "$TMP/huge.pgm"
expect_error "empty file" "empty.png" "$FT" embed --model "$TMP/m.ftw" "$TMP/empty.png"
expect_error "unknown format" "text.jpg" "$FT" verify --model "$TMP/m.ftw" "$TMP/good.ppm" "$TMP/text.jpg"
expect_error "truncated PNG" "trunc.png" "$FT" embed --model "$TMP/m.ftw" "$TMP/trunc.png"
expect_error "truncated JPEG" "trunc.jpg" "$FT" embed --model "$TMP/m.ftw" "$TMP/trunc.jpg"
expect_error "missing image" "nope.png" "$FT" embed --model "$TMP/m.ftw" "$TMP/nope.png"
photo=$(ls "$SHARED"/datasets/photos/people/*/*.jpg 2>/dev/null | head -1)
if [ -n "$photo" ]; then
  sz=$(stat -c %s "$photo"); head -c $((sz / 2)) "$photo" > "$TMP/half.jpg"
  expect_error "real JPEG cut in half" "half.jpg" "$FT" embed --model "$TMP/m.ftw" "$TMP/half.jpg"
  if "$FT" embed --model "$TMP/m.ftw" "$photo" >/dev/null 2>&1; then ok "real JPEG embeds"; else bad "real JPEG embeds"; fi
fi
if "$FT" verify --model "$TMP/m.ftw" "$TMP/good.ppm" "$TMP/good.ppm" --json | grep -q '"same":true'; then
  ok "verify of an image with itself is same"; else bad "verify of an image with itself"; fi

# --- IDX
mkdir -p "$TMP/idx"
head -c 3000 "$MNIST/train-images-idx3-ubyte.gz" > "$TMP/idx/train-images-idx3-ubyte.gz"
cp "$MNIST/train-labels-idx1-ubyte.gz" "$TMP/idx/"
expect_error "truncated IDX" "train-images-idx3-ubyte" "$FT" train --data "$TMP/idx" --arch seed-mnist --out "$TMP/x.ftw" --quiet
printf '\x00\x00\x08\x03\x7f\xff\xff\xff\x00\x01\x00\x00\x00\x01\x00\x00' | gzip > "$TMP/idx/train-images-idx3-ubyte.gz"
expect_error "IDX declaring huge dims" "train-images-idx3-ubyte" "$FT" train --data "$TMP/idx" --arch seed-mnist --out "$TMP/x.ftw" --quiet
: > "$TMP/idx/train-images-idx3-ubyte.gz"
expect_error "empty IDX" "train-images-idx3-ubyte" "$FT" train --data "$TMP/idx" --arch seed-mnist --out "$TMP/x.ftw" --quiet
expect_error "no dataset" "no such directory" "$FT" train --data "$TMP/none" --arch seed-mnist --out "$TMP/x.ftw"

# --- specs
echo '{"input":{"width":28,"height":28,"channels":1},"layers":[{"type":"conv2d","filters":8,' > "$TMP/broken.json"
echo '{"input":{"width":28,"height":28,"channels":1},"layers":[{"type":"conv2d","filters":8,"kernel":3},{"type":"add","from":-1}]}' > "$TMP/inconsistent.json"
echo '{"input":{"width":28,"height":28,"channels":1},"layers":[{"type":"dense","unit":8}]}' > "$TMP/typo.json"
expect_error "malformed spec" "broken.json" "$FT" train --data "$MNIST" --arch "$TMP/broken.json" --out "$TMP/x.ftw"
expect_error "inconsistent spec" "layer 1 (add): 'from'" "$FT" train --data "$MNIST" --arch "$TMP/inconsistent.json" --out "$TMP/x.ftw"
expect_error "spec field typo" "layer 0 (dense): 'unit' is not a field" "$FT" train --data "$MNIST" --arch "$TMP/typo.json" --out "$TMP/x.ftw"
expect_error "unknown preset" "unknown architecture" "$FT" train --data "$MNIST" --arch seed-mnst --out "$TMP/x.ftw"

# --- checkpoints
sz=$(stat -c %s "$TMP/m.ftw")
head -c $((sz - 100)) "$TMP/m.ftw" > "$TMP/trunc.ftw"
expect_error "truncated checkpoint" "trunc.ftw" "$FT" info "$TMP/trunc.ftw"
cp "$TMP/m.ftw" "$TMP/flip.ftw"
printf '\x5a' | dd of="$TMP/flip.ftw" bs=1 seek=$((sz / 2)) conv=notrunc status=none
expect_error "bit-flipped checkpoint" "flip.ftw" "$FT" info "$TMP/flip.ftw"
cp "$TMP/m.ftw" "$TMP/ver.ftw"
printf '\x63' | dd of="$TMP/ver.ftw" bs=1 seek=8 conv=notrunc status=none
expect_error "wrong-version checkpoint" "version" "$FT" info "$TMP/ver.ftw"
expect_error "not a checkpoint" "bad magic" "$FT" info "$TMP/good.ppm"
expect_error "empty checkpoint" "empty.png" "$FT" verify --model "$TMP/empty.png" "$TMP/good.ppm" "$TMP/good.ppm"

# --- usage errors are exit 2
"$FT" train --epochs zero >/dev/null 2>&1; [ $? -eq 2 ] && ok "usage error exits 2" || bad "usage error exits 2"
"$FT" frobnicate >/dev/null 2>&1; [ $? -eq 2 ] && ok "unknown command exits 2" || bad "unknown command exits 2"
for c in train eval embed verify info; do
  "$FT" $c --help | grep -q usage && ok "$c --help" || bad "$c --help"
done
finish
