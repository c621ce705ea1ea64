# Validation files shared by models/heads/train-all.sh, models/tuned/train-tone.sh,
# models/tuned/train-reply-statements.sh and models/blends/build.sh so that heads, fine-tuned
# models and blends are chosen and calibrated on the same rows (and the fine-tuned and blended
# toxicity models scored on the same test files), and the generated marker rows they read.
# Sourced by each from the repository root, after they set D (the shared data folder).
TOXICITY_VALID=($D/toxicity/tweeteval-offensive/valid.jsonl#part=0-40 $D/toxicity/tweeteval-hate/valid.jsonl#part=0-50
                $D/toxicity/mlma/valid.jsonl#part=0-60 $D/toxicity/ftr-fr/valid.jsonl
                $D/toxicity/germeval2018-de/valid.jsonl#part=0-70 $D/toxicity/haspeede2020-it/valid.jsonl#part=0-60
                $D/toxicity/hateval2019-es/valid.jsonl#part=0-70 $D/toxicity/hatebr-pt/valid.jsonl#part=0-60
                $D/toxicity/toldbr-pt/valid.jsonl#part=0-20 $D/toxicity/hatecheck-multi/valid.jsonl#part=0-40)
IRONY_VALID=($D/irony/tweeteval-irony/valid.jsonl $D/irony/isarcasmeval/train.jsonl#part=85-100
             $D/irony/multipico/valid.jsonl#part=70-85)
TOXICITY_TEST=($D/toxicity/tweeteval-offensive/test.jsonl $D/toxicity/tweeteval-hate/test.jsonl
  $D/toxicity/mlma/test.jsonl $D/toxicity/ftr-fr/test.jsonl $D/toxicity/hatecheck-multi/test.jsonl
  $D/toxicity/germeval2018-de/test.jsonl $D/toxicity/haspeede2020-it/test.jsonl $D/toxicity/hateval2019-es/test.jsonl
  $D/toxicity/hatebr-pt/test.jsonl $D/toxicity/toldbr-pt/test.jsonl $D/threads/fox-news/all.jsonl)
# The seven files the stance head, the stance-markers head and the stance blend are chosen on.
STANCE_HEAD_VALID=($D/stance/cic/valid.jsonl#part=0-25 $D/stance/semeval2016/valid.jsonl
                   $D/stance/efra-macron/train.jsonl#part=85-100 $D/stance/rit-referendum/train.jsonl#part=85-100
                   $D/stance/xstance/valid.jsonl#lang=de,by=target_id,part=85-100
                   $D/reply-stance/dast/all.jsonl#by=thread_id,part=70-85 $D/reply-stance/rumoureval2019/valid.jsonl)
# The three files the reply heads, the reply cross-encoders and the reply blend are chosen on.
REPLY_VALID=($D/reply-stance/rumoureval2019/valid.jsonl $D/reply-stance/dast/all.jsonl#by=thread_id,part=70-85
             $D/stance/wahlomat-de/valid.jsonl#by=target_id,part=0-30)

# markers KIND SPLIT: writes the generated rows of examples/markers/make_markers.py (KIND reply, argued or
# article, SPLIT train or test) to ${TMPDIR:-/tmp}/markers/KIND-SPLIT.jsonl and prints that path.
markers() {
  local dir=${TMPDIR:-/tmp}/markers
  mkdir -p "$dir"
  python3 examples/markers/make_markers.py "$1" "$2" > "$dir/$1-$2.jsonl" && echo "$dir/$1-$2.jsonl"
}
# reply_test_files: sets REPLY_TEST, the test files every reply model is scored on
# (models/heads/train-all.sh, models/blends/build.sh), generating the marker rows among them.
reply_test_files() {
  REPLY_TEST=($D/reply-stance/rumoureval2019/test.jsonl "$D/reply-stance/dast/all.jsonl#by=thread_id,part=85-100"
              $D/stance/wahlomat-de/test.jsonl "$(markers reply test)" "$(markers argued test)")
}
