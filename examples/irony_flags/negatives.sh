#!/usr/bin/env bash
# Experiment 1 of models/EVAL.md, "irony flags on ordinary text": the irony head's own training
# (models/heads/train-all.sh irony) with 2,000 UMSAB training tweets added as `not_ironic`, then
# its calibration and the test splits the shipped head is scored on. Writes WORK (default
# /tmp/irony-negatives). Run from the repository root with ../shared beside it.
set -euo pipefail
D=../shared/data
WORK=${WORK:-/tmp/irony-negatives}
B=${STANCE:-${CARGO_TARGET_DIR:-target}/release/stance}
source models/valid-sets.sh
mkdir -p "$WORK"
python3 examples/irony_flags/make_negatives.py $D/sentiment/umsab/train.jsonl > "$WORK/umsab-negatives.jsonl"
"$B" train --offline --task irony --out "$WORK/head" \
  --train $D/irony/tweeteval-irony/train.jsonl $D/irony/isarcasmeval/train.jsonl#part=0-85 \
          $D/irony/multipico/valid.jsonl#part=0-70 "$WORK/umsab-negatives.jsonl" \
  --valid "${IRONY_VALID[@]}"
"$B" calibrate --offline --task irony --head "$WORK/head" --out "$WORK/head" --valid "${IRONY_VALID[@]}"
"$B" eval --offline --task irony --head "$WORK/head" --by lang --data $D/irony/tweeteval-irony/test.jsonl \
  $D/irony/isarcasmeval/test.jsonl $D/irony/multipico/valid.jsonl#part=85-100
