#!/usr/bin/env bash
# End to end: train seed-mnist briefly on mnist-10k through the CLI, then
# check the loss fell, test-pair accuracy clearly beats chance, and that
# eval / info / embed / verify / resume work on the result.
. "$(dirname "$0")/lib_cli.sh"
MNIST=$SHARED/datasets/mnist-10k
if [ ! -d "$MNIST" ]; then echo "SKIP: dataset $MNIST not found (set FT_SHARED_DIR)"; exit 77; fi

out=$("$FT" train --data "$MNIST" --arch seed-mnist --out "$TMP/m.ftw" --epochs 2 --pairs-per-epoch 2500 \
      --seed 3 --json 2>"$TMP/train.log")
rc=$?
[ $rc -eq 0 ] && ok "train exits 0" || { bad "train exit $rc: $(tail -3 "$TMP/train.log")"; finish; exit 1; }
grep -q "^epoch 2/2" "$TMP/train.log" && ok "plain per-epoch lines when not a TTY" || bad "epoch lines: $(cat "$TMP/train.log")"
l1=$(grep '^epoch 1/2' "$TMP/train.log" | grep -o 'loss [0-9.]*' | head -1 | cut -d' ' -f2)
l2=$(grep '^epoch 2/2' "$TMP/train.log" | grep -o 'loss [0-9.]*' | head -1 | cut -d' ' -f2)
awk -v a="$l1" -v b="$l2" 'BEGIN{exit !(b < a)}' && ok "loss falls ($l1 -> $l2)" || bad "loss falls ($l1 -> $l2)"
acc=$("$FT" eval --model "$TMP/m.ftw" --data "$MNIST" --json | json_num accuracy)
awk -v a="$acc" 'BEGIN{exit !(a > 0.80)}' && ok "test accuracy $acc > 0.80 (chance 0.5)" || bad "test accuracy $acc"
pairs=$("$FT" eval --model "$TMP/m.ftw" --data "$MNIST" --json | json_num pairs)
[ "$pairs" = 3540 ] && ok "3540 test pairs" || bad "test pairs $pairs"
auc=$("$FT" eval --model "$TMP/m.ftw" --data "$MNIST" --threshold 0.3 --json | json_num auc)
awk -v a="$auc" 'BEGIN{exit !(a > 0.9)}' && ok "AUC $auc" || bad "AUC $auc"
"$FT" info "$TMP/m.ftw" --json | grep -q '"embedding_dim":128' && ok "info --json" || bad "info --json"
"$FT" info "$TMP/m.ftw" | grep -q 'conv2d' && ok "info lists layers" || bad "info"
# a digit image written as PGM from the IDX (first test image) embeds and verifies
{ printf 'P5\n28 28\n255\n'; gzip -dc "$MNIST/t10k-images-idx3-ubyte.gz" | tail -c +17 | head -c 784; } > "$TMP/d0.pgm"
{ printf 'P5\n28 28\n255\n'; gzip -dc "$MNIST/t10k-images-idx3-ubyte.gz" | tail -c +801 | head -c 784; } > "$TMP/d1.pgm"
n=$("$FT" embed --model "$TMP/m.ftw" "$TMP/d0.pgm" | wc -w)
[ "$n" = 129 ] && ok "embed prints 128 values" || bad "embed printed $n words"
"$FT" verify --model "$TMP/m.ftw" "$TMP/d0.pgm" "$TMP/d1.pgm" --json | grep -q '"distance":' && ok "verify --json" || bad "verify"
d=$("$FT" verify --model "$TMP/m.ftw" "$TMP/d0.pgm" "$TMP/d0.pgm" --json | json_num distance)
awk -v a="$d" 'BEGIN{exit !(a < 0.001)}' && ok "distance to itself $d" || bad "distance to itself $d"
# Ctrl-C (SIGINT) writes a resumable state; --resume finishes it
"$FT" train --data "$MNIST" --arch seed-mnist --out "$TMP/r.ftw" --epochs 3 --pairs-per-epoch 1000 --seed 3 \
  --no-test 2>/dev/null & pid=$!
for i in $(seq 1 200); do [ -f "$TMP/r.ftw.resume" ] && break; sleep 0.1; done
kill -INT $pid; wait $pid; rc=$?
[ $rc -eq 130 ] && [ -f "$TMP/r.ftw.resume" ] && ok "SIGINT exits 130 with r.ftw.resume" || bad "SIGINT: exit $rc"
"$FT" train --data "$MNIST" --arch seed-mnist --out "$TMP/r.ftw" --epochs 3 --pairs-per-epoch 1000 --seed 3 \
  --no-test --quiet --resume "$TMP/r.ftw.resume" >/dev/null && [ -f "$TMP/r.ftw" ] && [ ! -f "$TMP/r.ftw.resume" ] \
  && ok "resume completes" || bad "resume"
finish
