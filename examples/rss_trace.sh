#!/usr/bin/env bash
# Runs a command and samples its memory from /proc/PID/status every 0.5 s (Linux): one line per
# sample with the seconds since start, VmRSS, VmHWM (peak), RssAnon and RssFile, in KB.
# It shows which phase of a run holds the memory, where /usr/bin/time gives only the peak.
#   examples/rss_trace.sh LOG stance classify -q --out OUT comments.jsonl --articles articles.jsonl
# The command's stderr goes to LOG.stderr; `timeout 60 examples/rss_trace.sh …` traces the first minute.
set -u
log=$1; shift
"$@" 2>"$log.stderr" &
pid=$!
start=$(date +%s.%N)
while kill -0 "$pid" 2>/dev/null; do
  t=$(echo "$(date +%s.%N) - $start" | bc)
  r=$(grep -E "VmRSS|VmHWM|RssAnon|RssFile" "/proc/$pid/status" 2>/dev/null | awk '{printf "%s %s ", $1, $2}')
  echo "$t $r" >> "$log"
  sleep 0.5
done
wait "$pid"; echo "exit $?" >> "$log"
