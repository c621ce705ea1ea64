#!/bin/bash
# Rebuilds models/blends/reply, the default reply model (compiled into the binary): the reply
# head blended with the reply cross-encoder models/tuned/reply-statements. The weights and class
# offsets are chosen on the validation files both were chosen on, then every reply test split
# is scored. Rebuild the binary afterwards so that it carries the new blend. Only validation and
# test texts go through the encoder (about 15 minutes on 2 cores). Run from the repository root
# with ../shared beside it.
set -e
B=${STANCE:-${CARGO_TARGET_DIR:-target}/release/stance}
D=../shared/data
OUT=models/blends/reply
mkdir -p $OUT
cat > $OUT/blend.json <<'JSON'
{"format": "stance-blend/1", "task": "reply",
 "members": [{"model": "default", "weight": 0.5}, {"model": "../../tuned/reply-statements", "weight": 0.5}]}
JSON
"$B" calibrate --offline --task reply --blend-weights --head $OUT --out $OUT \
  --valid $D/reply-stance/rumoureval2019/valid.jsonl "$D/reply-stance/dast/all.jsonl#by=thread_id,part=70-85" \
          "$D/stance/wahlomat-de/valid.jsonl#by=target_id,part=0-30"
set -x
"$B" eval --offline --task reply --head $OUT --data $D/reply-stance/rumoureval2019/test.jsonl \
  "$D/reply-stance/dast/all.jsonl#by=thread_id,part=85-100" $D/stance/wahlomat-de/test.jsonl
"$B" eval --offline --task reply --head $OUT --labels agree,disagree --data "$D/stance/xstance/valid.jsonl#lang=fr"
