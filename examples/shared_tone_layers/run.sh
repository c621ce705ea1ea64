#!/usr/bin/env bash
# models/EVAL.md, "sentiment and irony on the toxicity model's layers": trains the sentiment and
# irony heads twice with the shipped heads' files and settings (one seed, no calibration), once on
# the default encoder and once on the encoder whose top 6 layers are models/tuned/toxicity-top6's
# (export.py), and scores each on the test splits.
# Run from the repository root with ../shared beside it: examples/shared_tone_layers/run.sh [WORK]
set -euo pipefail
D=../shared/data
W=${1:-/tmp/shared-tone-layers}
B=${STANCE:-${CARGO_TARGET_DIR:-target}/release/stance}
PYTHON=${PYTHON:-python3}
source models/valid-sets.sh
mkdir -p "$W"
[[ -f $W/tox6/model.safetensors ]] ||
  "$PYTHON" examples/shared_tone_layers/export.py ../shared/models/multilingual-e5-small-q4 models/tuned/toxicity-top6 "$W/tox6"
for encoder in default "$W/tox6"; do
  name=$(basename "$encoder")
  "$B" train --offline --model "$encoder" --task sentiment --out "$W/sentiment-$name" \
    --train $D/sentiment/umsab/train.jsonl --valid $D/sentiment/umsab/valid.jsonl
  "$B" eval --offline --model "$encoder" --task sentiment --head "$W/sentiment-$name" --by lang \
    --data $D/sentiment/umsab/test.jsonl
  "$B" train --offline --model "$encoder" --task irony --out "$W/irony-$name" \
    --train $D/irony/tweeteval-irony/train.jsonl "$D/irony/isarcasmeval/train.jsonl#part=0-85" \
            "$D/irony/multipico/valid.jsonl#part=0-70" --valid "${IRONY_VALID[@]}"
  "$B" eval --offline --model "$encoder" --task irony --head "$W/irony-$name" \
    --data $D/irony/tweeteval-irony/test.jsonl $D/irony/isarcasmeval/test.jsonl "$D/irony/multipico/valid.jsonl#part=85-100"
done
