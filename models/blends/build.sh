#!/bin/bash
# Rebuilds a blend: models/blends/TASK/blend.json, the task's default head and a fine-tuned model
# of models/tuned, first with equal weights. `stance calibrate --blend-weights` then chooses the
# weights and the decision rule (class offsets; for toxicity, thresholds per language that flag
# at most 15 % of non-toxic rows, as toxicity-top6's) on the validation files the head was chosen
# on, and every test split is scored (the output in models/EVAL.md). Only validation and test
# texts go through the encoder (10 to 15 minutes on 2 cores). Run from the repository root with
# ../shared beside it:
#   models/blends/build.sh stance|reply|sentiment|toxicity [TUNED]
# TUNED names another folder of models/tuned to blend with the head (to compare one); `heads`
# builds models/blends/TASK-heads instead (stance and reply): the two heads without a fine-tuned
# member, what `stance classify --speed fast` runs for those tasks.
# The stance, reply, sentiment and toxicity blends and the two heads-only blends are compiled into
# the binary: rebuild it afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${STANCE:-${CARGO_TARGET_DIR:-target}/release/stance}
D=../shared/data
source models/valid-sets.sh
task=${1:?usage: models/blends/build.sh stance|reply|sentiment|toxicity [TUNED]}
case $task in
  stance)    tuned=stance-allrows ;; # reads target and comment; stance files (every row), threads, markers
  reply)     tuned=reply-statements-argued ;; # reads parent and reply together; threads, statements, markers
  sentiment) tuned=sentiment-top6 ;;   # reads the comment; UMSAB tweets
  toxicity)  tuned=tone6-toxicity ;;   # reads the comment; every toxicity source and UMSAB
  *) echo "no blend is built for $task" >&2; exit 2 ;;
esac
tuned=${2:-$tuned}
OUT=models/blends/$task
# The reply and stance blends have a second head beside the default one, built in too: the head
# that also learnt comments that say where they stand in so many words (examples/markers;
# models/heads/reply-markers, models/heads/stance-markers).
extra=""
case $task in reply | stance) extra="{\"model\": \"../../heads/$task-markers\", \"weight\": 0.33}" ;; esac
if [[ $tuned == heads ]]; then
  [[ -n $extra ]] || { echo "no second head to blend for $task" >&2; exit 2; }
  OUT=models/blends/$task-heads
  members="{\"model\": \"default\", \"weight\": 0.5}, $extra"
else
  members="{\"model\": \"default\", \"weight\": 0.5}, ${extra:+$extra, }{\"model\": \"../../tuned/$tuned\", \"weight\": 0.5}"
fi
mkdir -p "$OUT"
cat > "$OUT/blend.json" <<JSON
{"format": "stance-blend/1", "task": "$task", "members": [$members]}
JSON
scores() { # echoes each command before its output
  echo "\$ stance eval --offline --task $task --head $OUT $*"
  "$B" eval --offline --task "$task" --head "$OUT" "$@"
}
case $task in
  stance)
    "$B" calibrate --offline --task stance --blend-weights --head "$OUT" --out "$OUT" --valid "${STANCE_HEAD_VALID[@]}"
    scores --data $D/stance/semeval2016/test.jsonl $D/stance/cic/test.jsonl \
      $D/stance/efra-macron/test.jsonl $D/stance/rit-referendum/test.jsonl \
      "$D/reply-stance/dast/all.jsonl#by=thread_id,part=85-100" $D/reply-stance/rumoureval2019/test.jsonl
    scores --labels favor,against --data "$D/stance/xstance/valid.jsonl#lang=fr"
    ARTICLE_MARKERS_TEST=$(markers article test)
    scores --data "$ARTICLE_MARKERS_TEST" ;;
  reply)
    "$B" calibrate --offline --task reply --blend-weights --head "$OUT" --out "$OUT" --valid "${REPLY_VALID[@]}"
    reply_test_files
    scores --data "${REPLY_TEST[@]}"
    scores --labels agree,disagree --data "$D/stance/xstance/valid.jsonl#lang=fr" ;;
  sentiment)
    "$B" calibrate --offline --task sentiment --blend-weights --head "$OUT" --out "$OUT" \
      --valid $D/sentiment/umsab/valid.jsonl
    scores --by lang --data $D/sentiment/umsab/test.jsonl ;;
  toxicity)
    "$B" calibrate --offline --task toxicity --blend-weights --max-false-positives 0.15 --head "$OUT" --out "$OUT" \
      --valid "${TOXICITY_VALID[@]}"
    scores --by lang --data "${TOXICITY_TEST[@]}" ;;
esac
