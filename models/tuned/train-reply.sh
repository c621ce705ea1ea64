#!/bin/sh
# Rebuilds models/tuned/reply (the fine-tuned reply cross-encoder: parent ↔ reply). DAST is
# split by thread: part 0-70 trains, 70-85 validates, 85-100 is the held-out test.
# Rerunning resumes from the last checkpoint in $WORK. Run from the repository root.
set -e
B=${STANCE:-target/release/stance}
D=../shared/data/reply-stance
WORK=${WORK:-/work/tune-work/reply}
exec $B tune --offline --task reply \
  --train $D/rumoureval2019/train.jsonl "$D/dast/all.jsonl#by=thread_id,part=0-70" \
  --valid $D/rumoureval2019/valid.jsonl "$D/dast/all.jsonl#by=thread_id,part=70-85" \
  --max-per-source 2500 --max-valid-per-source 800 \
  --top-layers 2 --context-tokens 96 --comment-tokens 160 \
  --epochs 3 --patience 2 --lr 1e-4 --head-lr 1e-3 --train-batch-tokens 4096 --seed 13 \
  --checkpoint-every 50 --work "$WORK" --out models/tuned/reply "$@"
