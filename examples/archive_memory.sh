#!/usr/bin/env bash
# What memory grows with the archive, phase by phase, without waiting hours for e5 to encode it:
# the whole classify pipeline (ingest, spill, scoring, aggregates, reports) on an archive with
# the tiny BERT of the parity fixtures as encoder and five heads trained on it in seconds. The
# encoder and heads then hold almost nothing, so what the trace shows is what the archive costs.
#   examples/archive_memory.sh WORK COMMENTS ARTICLES
# Writes WORK/heads/TASK, WORK/trace (examples/rss_trace.sh: seconds, VmHWM, VmRSS, RssAnon,
# RssFile in KB every 0.5 s), WORK/trace.stderr and WORK/out, and prints the peak from getrusage
# (/usr/bin/time), which also sees the last half second the trace can miss. Run from the
# repository root with ../shared beside it; BENCH.md quotes it on the 20k bench and on 10× it.
set -euo pipefail
work=$1 comments=$2 articles=$3
B=${STANCE:-${CARGO_TARGET_DIR:-target}/release/stance}
D=../shared/data
T=../shared/fixtures/parity/tiny/bert
mkdir -p "$work/heads"
heads=()
for spec in sentiment:sentiment/umsab stance:stance/semeval2016 irony:irony/tweeteval-irony \
            toxicity:toxicity/ftr-fr reply:reply-stance/rumoureval2019; do
  task=${spec%%:*} file=$D/${spec#*:}/valid.jsonl
  [ -f "$work/heads/$task/head.json" ] ||
    "$B" train -q --offline --no-cache --model $T --task "$task" --epochs 3 --out "$work/heads/$task" \
      --train "$file#part=0-80" --valid "$file#part=80-100"
  heads+=(--head "$task=$work/heads/$task")
done
rm -rf "$work/out" "$work/trace"
# time(1) reports the largest RSS among the processes it waited for, here the classify run.
/usr/bin/time -f "peak RSS %M KB, %e s" "$(dirname "$0")/rss_trace.sh" "$work/trace" \
  "$B" classify --offline -q --model $T "${heads[@]}" --out "$work/out" "$comments" --articles "$articles"
