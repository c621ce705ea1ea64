#!/bin/bash
# Rebuilds models/blends/stance: the default stance head blended with the stance cross-encoder
# (models/tuned/stance). The weights and class offsets are chosen on the validation files the
# head was chosen and calibrated on (models/heads/train-all.sh), then every test split is scored.
# Only the validation and test texts go through the encoder (about 15 minutes on 2 cores).
# Run from the repository root with ../shared beside it.
set -e
B=${STANCE:-${CARGO_TARGET_DIR:-target}/release/stance}
D=../shared/data
OUT=models/blends/stance
mkdir -p $OUT
cat > $OUT/blend.json <<'JSON'
{"format": "stance-blend/1", "task": "stance",
 "members": [{"model": "default", "weight": 0.5}, {"model": "../../tuned/stance", "weight": 0.5}]}
JSON
VALID=($D/stance/cic/valid.jsonl#part=0-25 $D/stance/semeval2016/valid.jsonl
       $D/stance/efra-macron/train.jsonl#part=85-100 $D/stance/rit-referendum/train.jsonl#part=85-100
       $D/stance/xstance/valid.jsonl#lang=de,by=target_id,part=85-100
       $D/reply-stance/dast/all.jsonl#by=thread_id,part=70-85 $D/reply-stance/rumoureval2019/valid.jsonl)
"$B" calibrate --offline --task stance --blend-weights --head $OUT --out $OUT --valid "${VALID[@]}"
set -x
"$B" eval --offline --task stance --head $OUT --data $D/stance/semeval2016/test.jsonl $D/stance/cic/test.jsonl \
  $D/stance/efra-macron/test.jsonl $D/stance/rit-referendum/test.jsonl \
  $D/reply-stance/dast/all.jsonl#by=thread_id,part=85-100 $D/reply-stance/rumoureval2019/test.jsonl
"$B" eval --offline --task stance --head $OUT --labels favor,against --data $D/stance/xstance/valid.jsonl#lang=fr
