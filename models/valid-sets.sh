# Validation files of the tone tasks, shared by models/heads/train-all.sh and
# models/tuned/train-tone.sh so that heads and fine-tuned models are chosen and calibrated on
# the same rows. Sourced by both, after they set D (the shared data folder).
TOXICITY_VALID=($D/toxicity/tweeteval-offensive/valid.jsonl#part=0-40 $D/toxicity/tweeteval-hate/valid.jsonl#part=0-50
                $D/toxicity/mlma/valid.jsonl#part=0-60 $D/toxicity/ftr-fr/valid.jsonl
                $D/toxicity/germeval2018-de/valid.jsonl#part=0-70 $D/toxicity/haspeede2020-it/valid.jsonl#part=0-60
                $D/toxicity/hateval2019-es/valid.jsonl#part=0-70 $D/toxicity/hatebr-pt/valid.jsonl#part=0-60
                $D/toxicity/toldbr-pt/valid.jsonl#part=0-20 $D/toxicity/hatecheck-multi/valid.jsonl#part=0-40)
IRONY_VALID=($D/irony/tweeteval-irony/valid.jsonl $D/irony/isarcasmeval/train.jsonl#part=85-100
             $D/irony/multipico/valid.jsonl#part=70-85)
