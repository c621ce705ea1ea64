#!/bin/sh
# A stance cross-encoder for question -> answer stance only (measured, not shipped; see
# models/EVAL.md, "2026-12-03: a question -> answer cross-encoder"): the top 3 layers trained on
# 20,000 Wahl-O-Mat thesis -> party statement pairs and 80 % of the German X-Stance questions,
# early stopping on the other 20 % and Wahl-O-Mat validation, so that the French X-Stance rows
# neither train nor validate it. 5,275 s of training on 2 cores (3 epochs), plus the bottom
# states of 25,532 texts (524 s). Rerunning resumes from the last checkpoint in $WORK.
set -e
B=${STANCE:-${CARGO_TARGET_DIR:-target}/release/stance}
D=../shared/data/stance
WORK=${WORK:-${TMPDIR:-/tmp}/stance-tune-stance-qa}
OUT=${OUT:-${TMPDIR:-/tmp}/stance-qa}
"$B" tune --offline --task stance \
  --train $D/wahlomat-de/train.jsonl "$D/xstance/valid.jsonl#lang=de,by=target_id,part=0-80" \
  --valid "$D/xstance/valid.jsonl#lang=de,by=target_id,part=80-100" $D/wahlomat-de/valid.jsonl \
  --max-per-source 20000 --max-valid-per-source 600 \
  --top-layers 3 --context-tokens 48 --comment-tokens 128 \
  --lr 5e-5 --head-lr 1.5e-4 --train-batch-tokens 2048 --seed 13 \
  --patience 2 --checkpoint-every 50 --epochs 3 --work "$WORK" --out "$OUT"
"$B" eval --offline --task stance --head "$OUT" --labels favor,against --data "$D/xstance/valid.jsonl#lang=fr"
