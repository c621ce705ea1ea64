#!/bin/sh
# Rebuilds models/tuned/reply-top6: a reply cross-encoder of 6 fine-tuned layers, started from the
# stance cross-encoder models/tuned/stance-threads (`--init`: its favor/against/none read as
# agree/disagree/none), then trained on the reply files of models/tuned/reply-statements (thread
# replies of RumourEval and DAST threads 0-70; a quarter of the Wahl-O-Mat theses and X-Stance
# German with the answers that take a side on them), at most 4,000 rows per file, 2 epochs
# (124 s of states, 2,992 s of training on 2 cores). Measured, not shipped: models/EVAL.md,
# "a reply cross-encoder of 6 layers".
# Rerunning resumes from the last checkpoint in $WORK. Then `models/blends/build.sh reply reply-top6`
# chooses a blend with the reply head. Run from the repository root with ../shared beside it.
set -e
B=${STANCE:-${CARGO_TARGET_DIR:-target}/release/stance}
D=../shared/data
WORK=${WORK:-${TMPDIR:-/tmp}/stance-tune-reply-top6}
exec "$B" tune --offline --task reply --init models/tuned/stance-threads \
  --train $D/reply-stance/rumoureval2019/train.jsonl "$D/reply-stance/dast/all.jsonl#by=thread_id,part=0-70" \
          "$D/stance/wahlomat-de/train.jsonl#by=target_id,part=0-25" "$D/stance/xstance/valid.jsonl#lang=de" \
  --valid $D/reply-stance/rumoureval2019/valid.jsonl "$D/reply-stance/dast/all.jsonl#by=thread_id,part=70-85" \
          "$D/stance/wahlomat-de/valid.jsonl#by=target_id,part=0-30" \
  --max-per-source 4000 --max-valid-per-source 0 \
  --top-layers 6 --context-tokens 96 --comment-tokens 160 \
  --epochs 2 --patience 2 --lr 3e-5 --head-lr 1e-4 --train-batch-tokens 2048 --seed 13 \
  --checkpoint-every 50 --work "$WORK" --out models/tuned/reply-top6 "$@"
