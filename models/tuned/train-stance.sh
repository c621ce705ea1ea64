#!/bin/sh
# Rebuilds models/tuned/stance: a stance cross-encoder, the encoder's top 3 layers fine-tuned
# over the frozen bottom 9 layers' states of target and comment. Load it with `stance classify
# --head stance=models/tuned/stance`. Not the default (see models/tuned/stance/README.md).
# The shipped model was trained for 3 epochs, then the same command was rerun with --epochs 5:
# the rerun resumes from the checkpoint and recomputes the learning-rate schedule for 5 epochs,
# which is what this script does (two calls). Rerunning resumes from the last checkpoint in
# $WORK (delete it to start afresh). Run from the repository root with ../shared beside it.
set -e
B=${STANCE:-${CARGO_TARGET_DIR:-target}/release/stance}
D=../shared/data/stance
WORK=${WORK:-${TMPDIR:-/tmp}/stance-tune-stance}
tune() {
  "$B" tune --offline --task stance \
    --train $D/wahlomat-de/train.jsonl "$D/xstance/valid.jsonl#lang=de" $D/cic/train.jsonl \
            $D/semeval2016/train.jsonl $D/efra-macron/train.jsonl $D/rit-referendum/train.jsonl \
    --valid "$D/xstance/valid.jsonl#lang=fr" $D/cic/valid.jsonl $D/semeval2016/valid.jsonl $D/wahlomat-de/valid.jsonl \
    --max-per-source 5000 --max-valid-per-source 600 \
    --top-layers 3 --context-tokens 48 --comment-tokens 128 \
    --lr 5e-5 --head-lr 1.5e-4 --train-batch-tokens 2048 --seed 13 \
    --patience 2 --checkpoint-every 50 --work "$WORK" --out models/tuned/stance "$@"
}
tune --epochs 3
tune --epochs 5
