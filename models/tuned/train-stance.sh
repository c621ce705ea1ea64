#!/bin/sh
# Rebuilds models/tuned/stance (the fine-tuned stance cross-encoder). Rerunning resumes from
# the last checkpoint in $WORK. Run from the repository root with ../shared beside it.
set -e
B=${STANCE:-target/release/stance}
D=../shared/data/stance
WORK=${WORK:-/work/tune-work/stance5}
exec $B tune --offline --task stance \
  --train $D/wahlomat-de/train.jsonl "$D/xstance/valid.jsonl#lang=de" $D/cic/train.jsonl \
          $D/semeval2016/train.jsonl $D/efra-macron/train.jsonl $D/rit-referendum/train.jsonl \
  --valid "$D/xstance/valid.jsonl#lang=fr" $D/cic/valid.jsonl $D/semeval2016/valid.jsonl $D/wahlomat-de/valid.jsonl \
  --max-per-source 2500 --max-valid-per-source 800 \
  --top-layers 2 --context-tokens 64 --comment-tokens 192 \
  --epochs 1 --max-steps-per-epoch 300 --lr 5e-5 --head-lr 1e-3 --train-batch-tokens 2048 --seed 13 \
  --checkpoint-every 25 --work "$WORK" --out models/tuned/stance "$@"
