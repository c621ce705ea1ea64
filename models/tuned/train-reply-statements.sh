#!/bin/sh
# Rebuilds models/tuned/reply-statements: the reply cross-encoder of the default reply blend
# (models/blends/reply). Parent and reply read together: the encoder's top 3 layers fine-tuned
# over the frozen bottom 9 layers' states, on thread replies (RumourEval, DAST threads 0-70) and
# on statements with the answers that take a side on them (a quarter of the Wahl-O-Mat theses,
# X-Stance German; favor -> agree, against -> disagree), the files the reply head learns from.
# 406 s of bottom-layer states and 3,352 s of training (3 epochs) on 2 cores. Rerunning resumes
# from the last checkpoint in $WORK. Then models/blends/build.sh reply chooses the blend's
# weights and offsets. Run from the repository root with ../shared beside it.
set -e
B=${STANCE:-${CARGO_TARGET_DIR:-target}/release/stance}
D=../shared/data
WORK=${WORK:-${TMPDIR:-/tmp}/stance-tune-reply-statements}
exec "$B" tune --offline --task reply \
  --train $D/reply-stance/rumoureval2019/train.jsonl "$D/reply-stance/dast/all.jsonl#by=thread_id,part=0-70" \
          "$D/stance/wahlomat-de/train.jsonl#by=target_id,part=0-25" "$D/stance/xstance/valid.jsonl#lang=de" \
  --valid $D/reply-stance/rumoureval2019/valid.jsonl "$D/reply-stance/dast/all.jsonl#by=thread_id,part=70-85" \
          "$D/stance/wahlomat-de/valid.jsonl#by=target_id,part=0-30" \
  --max-per-source 0 --max-valid-per-source 0 \
  --top-layers 3 --context-tokens 96 --comment-tokens 160 \
  --epochs 3 --patience 2 --lr 5e-5 --head-lr 1.5e-4 --train-batch-tokens 2048 --seed 13 \
  --checkpoint-every 50 --work "$WORK" --out models/tuned/reply-statements "$@"
