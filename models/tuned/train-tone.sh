#!/usr/bin/env bash
# Rebuilds the fine-tuned tone models, models/tuned/toxicity, irony and sentiment (toxicity and
# sentiment are not shipped: neither beats its default head on validation, models/EVAL.md "fine-tuned
# tone models"; irony scores the replies of the default irony route, models/routes/irony), each the
# encoder's top 3 layers fine-tuned over the frozen bottom 9 layers' states of the comment (for
# irony, of the comment and what it answers, where the data says). Then the decision thresholds
# per language, chosen on the same validation files, and the scores on the test splits (the
# numbers in models/EVAL.md). Usage, from the repository root with ../shared beside it:
#   models/tuned/train-tone.sh [toxicity] [toxicity-top6] [irony] [irony-top6] [sentiment] [sentiment-top6] [sentiment-top9] [tone6] [tone9] [toxicity-fr]
# toxicity-top6: the top 6 layers instead of 3, with MLMA's French rows a source of their own so
# that the cap per source keeps 3,000 of them (models/tuned/toxicity-top6, optional).
# A rerun resumes from the last checkpoint in $WORK/TASK (delete it to start afresh);
# EVAL_ONLY=1 scores the models in models/tuned without training them.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${STANCE:-${CARGO_TARGET_DIR:-target}/release/stance}
D=../shared/data
source models/valid-sets.sh
WORK=${WORK:-${TMPDIR:-/tmp}/stance-tune}
tasks=("${@:-toxicity irony sentiment}")
# Every toxicity training file, MLMA's French rows a source of their own beside its Arabic and
# English ones (toxicity-top6 and tone6).
TOXICITY_TRAIN_BY_SOURCE=($D/toxicity/tweeteval-offensive/train.jsonl $D/toxicity/tweeteval-hate/train.jsonl
  "$D/toxicity/mlma/train.jsonl#lang=fr" "$D/toxicity/mlma/train.jsonl#lang=ar+en"
  $D/toxicity/ftr-fr/train.jsonl $D/toxicity/germeval2018-de/train.jsonl
  $D/toxicity/haspeede2020-it/train.jsonl $D/toxicity/hateval2019-es/train.jsonl
  $D/toxicity/hatebr-pt/train.jsonl $D/toxicity/toldbr-pt/train.jsonl $D/toxicity/hatecheck-multi/train.jsonl)
# UMSAB's training and validation splits, one source per language, so that no cap per source
# applies to them beside the toxicity files (tone6 and tone9).
UMSAB_TRAIN_BY_LANG=(); UMSAB_VALID_BY_LANG=()
for l in ar de en es fr hi it pt; do
  UMSAB_TRAIN_BY_LANG+=("$D/sentiment/umsab/train.jsonl#lang=$l")
  UMSAB_VALID_BY_LANG+=("$D/sentiment/umsab/valid.jsonl#lang=$l")
done
tune() { # task, folder of models/tuned, fine-tuned layers, then data and options (LR, HEAD_LR: learning rates)
  local task=$1 name=$2 top=$3; shift 3
  if [[ ${EVAL_ONLY:-0} == 1 ]]; then return; fi
  "$B" tune --offline --task "$task" --top-layers "$top" --lr "${LR:-5e-5}" --head-lr "${HEAD_LR:-1.5e-4}" --train-batch-tokens 2048 \
    --seed 13 --checkpoint-every 50 --work "$WORK/$name" --out "models/tuned/$name" "$@"
}
calibrate() {
  if [[ ${EVAL_ONLY:-0} == 1 ]]; then return; fi
  "$B" calibrate --offline "$@"
}
eval_model() { # task, folder of models/tuned, then data specs; echoes the command before its output
  local task=$1 name=$2; shift 2
  echo "\$ stance eval --offline --task $task --head models/tuned/$name --by lang $*"
  "$B" eval --offline --task "$task" --head "models/tuned/$name" --by lang "$@"
}
for task in ${tasks[*]}; do
  case $task in
  toxicity)
    # Every toxicity source, at most 2,500 rows each (a seeded sample), classes balanced within
    # each file; validation as for the head (models/heads/train-all.sh). Thresholds per language
    # that flag at most 15 % of each language's non-toxic validation rows: the operating point
    # the tone issue asks for (at least 85 % of non-toxic French comments recognised).
    VALID=("${TOXICITY_VALID[@]}")
    tune toxicity toxicity 3 \
      --train $D/toxicity/tweeteval-offensive/train.jsonl $D/toxicity/tweeteval-hate/train.jsonl \
              $D/toxicity/mlma/train.jsonl $D/toxicity/ftr-fr/train.jsonl $D/toxicity/germeval2018-de/train.jsonl \
              $D/toxicity/haspeede2020-it/train.jsonl $D/toxicity/hateval2019-es/train.jsonl \
              $D/toxicity/hatebr-pt/train.jsonl $D/toxicity/toldbr-pt/train.jsonl $D/toxicity/hatecheck-multi/train.jsonl \
      --valid "${VALID[@]}" --max-per-source 2500 --max-valid-per-source 400 \
      --context-tokens 8 --comment-tokens 128 --epochs 3 --patience 1
    calibrate --task toxicity --head models/tuned/toxicity --max-false-positives 0.15 --out models/tuned/toxicity \
      --valid "${VALID[@]}"
    eval_model toxicity toxicity --data "${TOXICITY_TEST[@]}" ;;
  toxicity-top6)
    # As above with 6 layers, the learning rate on a 3-epoch schedule and the run ended after 2 to
    # fit a session (2,666 s of training on 2 cores). MLMA's French rows (3,219) are a source of
    # their own, its Arabic and English rows another, and every source is capped at 3,000 rows.
    VALID=("${TOXICITY_VALID[@]}")
    tune toxicity toxicity-top6 6 \
      --train "${TOXICITY_TRAIN_BY_SOURCE[@]}" \
      --valid "${VALID[@]}" --max-per-source 3000 --max-valid-per-source 400 \
      --context-tokens 8 --comment-tokens 128 --epochs 3 --stop-after 2 --patience 1
    calibrate --task toxicity --head models/tuned/toxicity-top6 --max-false-positives 0.15 \
      --out models/tuned/toxicity-top6 --valid "${VALID[@]}"
    eval_model toxicity toxicity-top6 --data "${TOXICITY_TEST[@]}" ;;
  irony)
    # The head's data (models/heads/train-all.sh); MultiPICo rows are read with the post they
    # answer, so the model learns irony in context and classify gives it each reply's parent.
    VALID=("${IRONY_VALID[@]}")
    tune irony irony 3 \
      --train $D/irony/tweeteval-irony/train.jsonl $D/irony/isarcasmeval/train.jsonl#part=0-85 \
              $D/irony/multipico/valid.jsonl#part=0-70 \
      --valid "${VALID[@]}" --max-per-source 0 --max-valid-per-source 0 \
      --context-tokens 64 --comment-tokens 128 --epochs 4 --patience 1
    # Thresholds per language with the best validation macro-F1, as for the head.
    calibrate --task irony --head models/tuned/irony --out models/tuned/irony --valid "${VALID[@]}"
    eval_model irony irony --data $D/irony/tweeteval-irony/test.jsonl $D/irony/isarcasmeval/test.jsonl \
      $D/irony/multipico/valid.jsonl#part=85-100 ;;
  irony-top6)
    # As irony with 6 layers, the depth at which the toxicity, sentiment and stance models beat
    # their heads; the same data, validation and thresholds.
    VALID=("${IRONY_VALID[@]}")
    tune irony irony-top6 6 \
      --train $D/irony/tweeteval-irony/train.jsonl $D/irony/isarcasmeval/train.jsonl#part=0-85 \
              $D/irony/multipico/valid.jsonl#part=0-70 \
      --valid "${VALID[@]}" --max-per-source 0 --max-valid-per-source 0 \
      --context-tokens 64 --comment-tokens 128 --epochs 4 --patience 1
    calibrate --task irony --head models/tuned/irony-top6 --out models/tuned/irony-top6 --valid "${VALID[@]}"
    eval_model irony irony-top6 --data $D/irony/tweeteval-irony/test.jsonl $D/irony/isarcasmeval/test.jsonl \
      $D/irony/multipico/valid.jsonl#part=85-100 ;;
  sentiment)
    # The head's data (UMSAB tweets, 8 languages): every training row, early stopping on the
    # validation split. The argmax decides, as for the head.
    tune sentiment sentiment 3 --train $D/sentiment/umsab/train.jsonl --valid $D/sentiment/umsab/valid.jsonl \
      --max-per-source 0 --max-valid-per-source 0 --context-tokens 8 --comment-tokens 128 --epochs 3 --patience 1
    # Then models/blends/build.sh sentiment scores its blend with the head.
    eval_model sentiment sentiment --data $D/sentiment/umsab/test.jsonl ;;
  sentiment-top6)
    # As above with 6 layers, the depth at which the toxicity and stance models beat their heads.
    tune sentiment sentiment-top6 6 --train $D/sentiment/umsab/train.jsonl --valid $D/sentiment/umsab/valid.jsonl \
      --max-per-source 0 --max-valid-per-source 0 --context-tokens 8 --comment-tokens 128 --epochs 3 --patience 1
    eval_model sentiment sentiment-top6 --data $D/sentiment/umsab/test.jsonl ;;
  sentiment-top9)
    # As sentiment-top6 with 9 layers over the frozen bottom 3: a comment-texts run then needs 12
    # layer passes, as many as the encoder alone, if the model needs no head beside it.
    tune sentiment sentiment-top9 9 --train $D/sentiment/umsab/train.jsonl --valid $D/sentiment/umsab/valid.jsonl \
      --max-per-source 0 --max-valid-per-source 0 --context-tokens 8 --comment-tokens 128 --epochs 3 --patience 1
    eval_model sentiment sentiment-top9 --data $D/sentiment/umsab/test.jsonl ;;
  tone6)
    # Toxicity and sentiment on one set of 6 layers (stance tune --also-task), started from
    # toxicity-top6: every toxicity source at most 2,000 rows, every UMSAB training tweet, UMSAB
    # split by language so that no cap applies to it. Two models out, tone6-toxicity and
    # tone6-sentiment, with the same shared_layers id. Then models/blends/build.sh scores each
    # task's blend with its head (models/EVAL.md, "one set of layers for sentiment and toxicity").
    tune toxicity tone6-toxicity 6 --init models/tuned/toxicity-top6 \
      --train "${TOXICITY_TRAIN_BY_SOURCE[@]}" \
      --valid "${TOXICITY_VALID[@]}" --max-per-source 2000 --max-valid-per-source 400 \
      --context-tokens 8 --comment-tokens 128 --epochs 2 --patience 1 \
      --also-task sentiment --also-train "${UMSAB_TRAIN_BY_LANG[@]}" --also-valid "${UMSAB_VALID_BY_LANG[@]}" \
      --also-out models/tuned/tone6-sentiment ;;
  tone9)
    # Sentiment and toxicity on one set of 9 layers over the frozen bottom 3, started from
    # sentiment-top9 (the default sentiment model) with a fresh toxicity classifier: the data of
    # tone6, 2 epochs. Two models out, tone9-sentiment and tone9-toxicity, with the same
    # shared_layers id, so that one pass of 9 layers serves both tasks where sentiment-top9 and
    # tone6-toxicity ran 9 and 6. Then the toxicity thresholds per language, as for toxicity.
    # Measured on 2026-12-06, not shipped: both tasks scored lower on validation than the
    # default models (models/EVAL.md, "sentiment and toxicity on one set of nine layers").
    tune sentiment tone9-sentiment 9 --init models/tuned/sentiment-top9 \
      --train "${UMSAB_TRAIN_BY_LANG[@]}" --valid "${UMSAB_VALID_BY_LANG[@]}" \
      --max-per-source 2000 --max-valid-per-source 400 \
      --context-tokens 8 --comment-tokens 128 --epochs 2 --patience 1 \
      --also-task toxicity --also-train "${TOXICITY_TRAIN_BY_SOURCE[@]}" --also-valid "${TOXICITY_VALID[@]}" \
      --also-out models/tuned/tone9-toxicity
    calibrate --task toxicity --head models/tuned/tone9-toxicity --max-false-positives 0.15 \
      --out models/tuned/tone9-toxicity --valid "${TOXICITY_VALID[@]}"
    eval_model sentiment tone9-sentiment --data $D/sentiment/umsab/test.jsonl
    eval_model toxicity tone9-toxicity --data "${TOXICITY_TEST[@]}" ;;
  toxicity-fr)
    # tone6-toxicity one more epoch with French weighed up: FTR and MLMA's French rows each read
    # twice (as two sources, so 4 of the 13 capped sources are French), every source at most
    # 2,000 rows, the learning rate of a continuation. The tone issue asks for French non-toxic
    # comments recognised and French toxic ones found per source; then models/blends/build.sh
    # toxicity toxicity-fr blends it with the head as the default is blended. Measured on
    # 2026-12-06, not kept: it ranks French rows no better on validation (models/EVAL.md,
    # "toxicity with French weighed up").
    LR=3e-5 HEAD_LR=1e-4 tune toxicity toxicity-fr 6 --init models/tuned/tone6-toxicity \
      --train "${TOXICITY_TRAIN_BY_SOURCE[@]}" $D/toxicity/ftr-fr/train.jsonl "$D/toxicity/mlma/train.jsonl#lang=fr" \
      --valid "${TOXICITY_VALID[@]}" --max-per-source 2000 --max-valid-per-source 400 \
      --context-tokens 8 --comment-tokens 128 --epochs 1 --patience 1 ;;
  *) echo "unknown task $task" >&2; exit 2 ;;
  esac
done
