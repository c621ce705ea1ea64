#!/bin/sh
# Rebuilds models/tuned/reply: a reply cross-encoder (parent ↔ reply), the encoder's top 3
# layers fine-tuned over the frozen bottom 9 layers' states. Load it with `stance classify
# --head reply=models/tuned/reply`. Not the default (see models/tuned/reply/README.md). DAST is
# split by thread: part 0-70 trains, 70-85 validates, 85-100 is the held-out test.
# Rerunning resumes from the last checkpoint in $WORK (delete it to start afresh). Run from the
# repository root with ../shared beside it.
set -e
B=${STANCE:-${CARGO_TARGET_DIR:-target}/release/stance}
D=../shared/data/reply-stance
WORK=${WORK:-${TMPDIR:-/tmp}/stance-tune-reply}
exec "$B" tune --offline --task reply \
  --train $D/rumoureval2019/train.jsonl "$D/dast/all.jsonl#by=thread_id,part=0-70" \
  --valid $D/rumoureval2019/valid.jsonl "$D/dast/all.jsonl#by=thread_id,part=70-85" \
  --max-per-source 0 --max-valid-per-source 0 \
  --top-layers 3 --context-tokens 96 --comment-tokens 160 \
  --epochs 4 --patience 2 --lr 5e-5 --head-lr 1.5e-4 --train-batch-tokens 2048 --seed 13 \
  --checkpoint-every 50 --work "$WORK" --out models/tuned/reply "$@"
