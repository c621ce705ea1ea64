#!/bin/sh
# Trains a stance cross-encoder into models/tuned/stance: the encoder's top 3 layers fine-tuned
# over the frozen bottom 9 layers' states of target and comment. Load it with `stance classify
# --head stance=models/tuned/stance`. Not shipped: no run has beaten the default head yet (see
# models/tuned/README.md). Rerunning resumes from the last checkpoint in $WORK (delete it to
# start afresh). Run from the repository root with ../shared beside it.
set -e
B=${STANCE:-${CARGO_TARGET_DIR:-target}/release/stance}
D=../shared/data/stance
WORK=${WORK:-${TMPDIR:-/tmp}/stance-tune-stance}
exec "$B" tune --offline --task stance \
  --train $D/wahlomat-de/train.jsonl "$D/xstance/valid.jsonl#lang=de" $D/cic/train.jsonl \
          $D/semeval2016/train.jsonl $D/efra-macron/train.jsonl $D/rit-referendum/train.jsonl \
  --valid "$D/xstance/valid.jsonl#lang=fr" $D/cic/valid.jsonl $D/semeval2016/valid.jsonl $D/wahlomat-de/valid.jsonl \
  --max-per-source 5000 --max-valid-per-source 600 \
  --top-layers 3 --context-tokens 48 --comment-tokens 128 \
  --epochs 5 --max-steps-per-epoch 350 --lr 3e-5 --head-lr 2e-3 --train-batch-tokens 2048 --seed 13 \
  --patience 3 --checkpoint-every 25 --work "$WORK" --out models/tuned/stance "$@"
