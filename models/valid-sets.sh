# Validation files of the tone tasks, shared by models/heads/train-all.sh, models/tuned/train-tone.sh
# and models/blends/build.sh so that heads, fine-tuned models and blends are chosen and calibrated
# on the same rows (and the fine-tuned and blended toxicity models scored on the same test files).
# Sourced by each, after they set D (the shared data folder).
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
