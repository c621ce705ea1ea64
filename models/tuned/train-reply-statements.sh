#!/bin/bash
# Rebuilds a reply cross-encoder on the reply head's files: thread replies (RumourEval, DAST
# threads 0-70) and statements with the answers that take a side on them (a quarter of the
# Wahl-O-Mat theses, X-Stance German; favor -> agree, against -> disagree). Parent and reply are
# read together: the encoder's top layers fine-tuned over the frozen bottom layers' states.
#   models/tuned/train-reply-statements.sh [statements]  # models/tuned/reply-statements
#   models/tuned/train-reply-statements.sh top6          # models/tuned/reply-top6
#   models/tuned/train-reply-statements.sh markers       # models/tuned/reply-statements-markers
#   models/tuned/train-reply-statements.sh argued        # models/tuned/reply-statements-argued
# statements: the cross-encoder of the default reply blend (models/blends/reply), top 3 layers,
# 3 epochs: 406 s of bottom-layer states and 3,352 s of training on 2 cores.
# top6: 6 layers started from the stance cross-encoder models/tuned/stance-threads (`--init`:
# its favor/against/none read as agree/disagree/none), at most 4,000 rows per file, 2 epochs
# (124 s of states, 2,992 s of training on 2 cores). Measured, not shipped: models/EVAL.md, "a
# reply cross-encoder of 6 layers".
# markers: reply-statements trained further (`--init`) with the replies that say they agree or
# disagree (examples/markers, the training list) added to its files, 2 epochs (best: 2; 237 s of
# states, 3,625 s of training on 2 cores beside other work). Measured, not shipped: models/EVAL.md,
# "the reply cross-encoder with the reply markers".
# argued: as markers, with the replies that say they agree or disagree and then argue added too
# (examples/markers `argued`: a marker and another comment on the parent's target, of the same or
# the other side).
# Other arguments go to `stance tune` as they are. Rerunning resumes from the last checkpoint in
# $WORK. Then `models/blends/build.sh reply [reply-top6]` chooses the blend's weights and offsets.
# Run from the repository root with ../shared beside it.
set -e
B=${STANCE:-${CARGO_TARGET_DIR:-target}/release/stance}
D=../shared/data
source models/valid-sets.sh
mode=statements
case ${1:-} in statements | top6 | markers | argued) mode=$1; shift ;; esac
tune() {
  "$B" tune --offline --task reply \
    --train $D/reply-stance/rumoureval2019/train.jsonl "$D/reply-stance/dast/all.jsonl#by=thread_id,part=0-70" \
            "$D/stance/wahlomat-de/train.jsonl#by=target_id,part=0-25" "$D/stance/xstance/valid.jsonl#lang=de" \
    --valid "${REPLY_VALID[@]}" --max-valid-per-source 0 --context-tokens 96 --comment-tokens 160 --patience 2 \
    --train-batch-tokens 2048 --seed 13 --checkpoint-every 50 "$@"
}
case $mode in
  statements)
    WORK=${WORK:-${TMPDIR:-/tmp}/stance-tune-reply-statements}
    tune --max-per-source 0 --top-layers 3 --epochs 3 --lr 5e-5 --head-lr 1.5e-4 \
      --work "$WORK" --out models/tuned/reply-statements "$@" ;;
  top6)
    WORK=${WORK:-${TMPDIR:-/tmp}/stance-tune-reply-top6}
    tune --init models/tuned/stance-threads --max-per-source 4000 --top-layers 6 --epochs 2 --lr 3e-5 \
      --head-lr 1e-4 --work "$WORK" --out models/tuned/reply-top6 "$@" ;;
  markers)
    WORK=${WORK:-${TMPDIR:-/tmp}/stance-tune-reply-statements-markers}
    REPLY_MARKERS_TRAIN=$(markers reply train)
    tune --init models/tuned/reply-statements --max-per-source 0 --top-layers 3 --epochs 2 --lr 3e-5 \
      --head-lr 1e-4 --work "$WORK" --out models/tuned/reply-statements-markers --train "$REPLY_MARKERS_TRAIN" "$@" ;;
  argued)
    WORK=${WORK:-${TMPDIR:-/tmp}/stance-tune-reply-statements-argued}
    REPLY_MARKERS_TRAIN=$(markers reply train)
    ARGUED_MARKERS_TRAIN=$(markers argued train)
    tune --init models/tuned/reply-statements --max-per-source 0 --top-layers 3 --epochs 2 --lr 3e-5 \
      --head-lr 1e-4 --work "$WORK" --out models/tuned/reply-statements-argued \
      --train "$REPLY_MARKERS_TRAIN" "$ARGUED_MARKERS_TRAIN" "$@" ;;
esac
