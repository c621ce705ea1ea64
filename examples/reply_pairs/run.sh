#!/usr/bin/env bash
# models/EVAL.md, "answers read as replies to each other": scores the default reply model and the
# reply head on pairs of answers to the same question (French X-Stance, never trained on;
# Wahl-O-Mat test theses), then trains the reply head again with German answer pairs added
# (Wahl-O-Mat train theses 0-25 %, X-Stance German) and scores it on the same files.
# Run from the repository root with ../shared beside it: examples/reply_pairs/run.sh [WORK]
set -euo pipefail
D=../shared/data
W=${1:-/tmp/reply-pairs}
B=${STANCE:-${CARGO_TARGET_DIR:-target}/release/stance}
mkdir -p "$W"
pairs() { python3 examples/reply_pairs/make_pairs.py "$1" "$2" 1 > "$W/$3.jsonl"; }
pairs $D/stance/xstance/valid.jsonl fr xs-fr
pairs $D/stance/xstance/valid.jsonl de xs-de
pairs $D/stance/wahlomat-de/train.jsonl de wom-train
pairs $D/stance/wahlomat-de/valid.jsonl de wom-valid
pairs $D/stance/wahlomat-de/test.jsonl de wom-test
"$B" train --offline --task reply --out "$W/head" --balance per-source \
  --train $D/reply-stance/rumoureval2019/train.jsonl "$D/reply-stance/dast/all.jsonl#by=thread_id,part=0-70" \
          "$D/stance/wahlomat-de/train.jsonl#by=target_id,part=0-25" "$D/stance/xstance/valid.jsonl#lang=de" \
          "$W/wom-train.jsonl#by=target_id,part=0-25" "$W/xs-de.jsonl" \
  --valid $D/reply-stance/rumoureval2019/valid.jsonl "$D/reply-stance/dast/all.jsonl#by=thread_id,part=70-85" \
          "$D/stance/wahlomat-de/valid.jsonl#by=target_id,part=0-30" "$W/wom-valid.jsonl#by=target_id,part=0-30"
for head in default models/heads/reply "$W/head"; do
  [[ $head == default ]] && flag=() || flag=(--head "$head")
  "$B" eval --offline --task reply "${flag[@]}" --data "$W/xs-fr.jsonl" "$W/wom-test.jsonl"
  "$B" eval --offline --task reply "${flag[@]}" --labels agree,disagree --data "$W/xs-fr.jsonl" "$W/wom-test.jsonl"
  "$B" eval --offline --task reply "${flag[@]}" --data $D/reply-stance/rumoureval2019/test.jsonl \
    "$D/reply-stance/dast/all.jsonl#by=thread_id,part=85-100" $D/stance/wahlomat-de/test.jsonl
done
