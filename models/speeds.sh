#!/bin/bash
# Scores the models behind `stance classify --speed` on every task's test splits: `head` scores
# each task's built-in head alone (`stance eval --head head`: what --speed fast runs for every
# task and --speed balanced for sentiment and toxicity), `default` the built-in models (what
# --speed accurate runs, and balanced for stance, irony and reply). The output is the
# "three speeds" section of models/EVAL.md. Run from the repository root with ../shared beside it:
#   models/speeds.sh head|default
set -euo pipefail
cd "$(dirname "$0")/.."
B=${STANCE:-${CARGO_TARGET_DIR:-target}/release/stance}
D=../shared/data
source models/valid-sets.sh
which=${1:?usage: models/speeds.sh head|default}
case $which in
  head) model=(--head head) ;;
  default) model=() ;;
  *) echo "usage: models/speeds.sh head|default" >&2; exit 2 ;;
esac
scores() { # task, then eval options; echoes each command before its output
  local task=$1; shift
  echo "\$ stance eval --offline --task $task ${model[*]} $*"
  "$B" eval --offline --task "$task" "${model[@]}" "$@"
}
scores sentiment --by lang --data $D/sentiment/umsab/test.jsonl $D/sentiment/tweeteval-en/test.jsonl
scores stance --data $D/stance/semeval2016/test.jsonl $D/stance/cic/test.jsonl \
  $D/stance/efra-macron/test.jsonl $D/stance/rit-referendum/test.jsonl \
  "$D/reply-stance/dast/all.jsonl#by=thread_id,part=85-100" $D/reply-stance/rumoureval2019/test.jsonl \
  "$(markers article test)"
scores stance --labels favor,against --data "$D/stance/xstance/valid.jsonl#lang=fr"
scores irony --data $D/irony/tweeteval-irony/test.jsonl $D/irony/isarcasmeval/test.jsonl \
  "$D/irony/multipico/valid.jsonl#part=85-100"
scores toxicity --by lang --data "${TOXICITY_TEST[@]}"
reply_test_files
scores reply --data "${REPLY_TEST[@]}"
scores reply --labels agree,disagree --data "$D/stance/xstance/valid.jsonl#lang=fr"
