#!/bin/sh
# Rebuilds a stance cross-encoder: the encoder's top k layers fine-tuned over the frozen bottom
# layers' states of target and comment. Load it with `stance classify --head stance=DIR`.
#   models/tuned/train-stance.sh          # models/tuned/stance: top 3 layers
#   models/tuned/train-stance.sh top6     # models/tuned/stance-top6: top 6 layers
# Top 3: trained for 3 epochs, then the same command was rerun with --epochs 5: the rerun
# resumes from the checkpoint and recomputes the learning-rate schedule for 5 epochs, which is
# what this script does (two calls). Top 6 (the depth examples/gpu_ceiling measured best on
# these files): the learning rate follows a 4-epoch schedule and the run ends after epoch 3
# (`--stop-after 3`), to fit a 2-core session. Rerunning resumes from the last checkpoint in
# $WORK (delete it to start afresh). Run from the repository root with ../shared beside it.
set -e
B=${STANCE:-${CARGO_TARGET_DIR:-target}/release/stance}
D=../shared/data/stance
tune() {
  "$B" tune --offline --task stance \
    --train $D/wahlomat-de/train.jsonl "$D/xstance/valid.jsonl#lang=de" $D/cic/train.jsonl \
            $D/semeval2016/train.jsonl $D/efra-macron/train.jsonl $D/rit-referendum/train.jsonl \
    --valid "$D/xstance/valid.jsonl#lang=fr" $D/cic/valid.jsonl $D/semeval2016/valid.jsonl $D/wahlomat-de/valid.jsonl \
    --max-per-source 5000 --max-valid-per-source 600 --context-tokens 48 --comment-tokens 128 \
    --lr 5e-5 --head-lr 1.5e-4 --train-batch-tokens 2048 --seed 13 \
    --patience 2 --checkpoint-every 50 "$@"
}
case ${1:-top3} in
  top3)
    WORK=${WORK:-${TMPDIR:-/tmp}/stance-tune-stance}
    set -- --top-layers 3 --work "$WORK" --out models/tuned/stance
    tune "$@" --epochs 3
    tune "$@" --epochs 5 ;;
  top6)
    WORK=${WORK:-${TMPDIR:-/tmp}/stance-tune-stance-top6}
    tune --top-layers 6 --work "$WORK" --out models/tuned/stance-top6 --epochs 4 --stop-after 3 ;;
  *) echo "usage: $0 [top3|top6]" >&2; exit 2 ;;
esac
