#!/usr/bin/env bash
# Trains every shipped head on the shared data, then scores it on the test splits.
# Run from the repository root with ../shared beside it:  models/heads/train-all.sh [TASK...]
# Each `stance train` line below is the documented command for that head (see its README.md);
# the `stance eval` lines print the numbers in models/EVAL.md. Embeddings are cached
# (~/.cache/stance/embeddings), so a rerun only trains. EVAL_ONLY=1 scores the shipped heads
# without retraining them.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=../shared/data
source models/valid-sets.sh
stance() { "${STANCE_BIN:-${CARGO_TARGET_DIR:-target}/release/stance}" "$@"; }
tasks=("${@:-sentiment stance irony toxicity reply}")
train() { # skipped with EVAL_ONLY=1
  if [[ ${EVAL_ONLY:-0} == 1 ]]; then return; fi
  stance train "$@"
}
calibrate() { # skipped with EVAL_ONLY=1
  if [[ ${EVAL_ONLY:-0} == 1 ]]; then return; fi
  stance calibrate "$@"
}
eval_model() { # head folder, task, then data specs and flags; echoes the command before its output
  local dir=$1 task=$2; shift 2
  echo "\$ stance eval --offline --task $task --head $dir $*"
  stance eval --offline --task "$task" --head "$dir" "$@"
}
eval_head() { # task, then data specs and extra flags: the task's head in models/heads, by language
  eval_model "models/heads/$1" "$1" --by lang "${@:2}"
}
for task in ${tasks[*]}; do
  case $task in
  sentiment)
    # The mean of five MLPs from seeds 13 to 17 (`--members 5`, as for stance): one seed's
    # validation macro-F1 moved between 60.85 and 61.89 here, and the five together scored
    # 65.22 on the test against 64.18 for seed 13 alone (models/EVAL.md, "2026-12-05: heads of
    # five seeds"). Irony, toxicity and reply stay one seed: five were no better on validation
    # (irony, reply) or flagged more French non-toxic comments (toxicity).
    train --offline --task sentiment --members 5 --out models/heads/sentiment \
      --train $D/sentiment/umsab/train.jsonl --valid $D/sentiment/umsab/valid.jsonl
    eval_head sentiment --data $D/sentiment/umsab/test.jsonl ;;
  stance)
    # A narrower, less regularised MLP than the default scored best on the valid splits
    # (macro-F1 67.95 against 64.36 with the defaults and 54.2 for a linear head). Besides the
    # fixed-target sets, comment threads under a source (DAST: Reddit news submissions;
    # RumourEval: a claim), each post labelled for its stance toward the source. Without them
    # the head called 236 of DAST's 239 validation posts that take no side `favor` or `against`.
    # Classes are balanced within each file: the thread files are 80 % `none`.
    VALID=("${STANCE_HEAD_VALID[@]}")
    STANCE_TRAIN=($D/stance/cic/train.jsonl#part=0-40 $D/stance/semeval2016/train.jsonl
                  $D/stance/efra-macron/train.jsonl#part=0-85 $D/stance/rit-referendum/train.jsonl#part=0-85
                  $D/stance/xstance/valid.jsonl#lang=de,by=target_id,part=0-85
                  $D/reply-stance/dast/all.jsonl#by=thread_id,part=0-70 $D/reply-stance/rumoureval2019/train.jsonl)
    train --offline --task stance --members 5 --out models/heads/stance --hidden 512 --dropout 0.5 --balance per-source \
      --train "${STANCE_TRAIN[@]}" --valid "${VALID[@]}"
    # Class offsets on the log-probabilities, chosen on the same validation files (mean
    # macro-F1 60.45 -> 61.55).
    calibrate --offline --task stance --head models/heads/stance --out models/heads/stance --valid "${VALID[@]}"
    # The second head of the default stance blend (since 2026-12-07): the same recipe and
    # comments that praise or damn the article itself, in six languages (examples/markers,
    # generated from hand-written markers and headlines); the head above calls them `none`.
    ARTICLE_MARKERS_TRAIN=$(markers article train)
    ARTICLE_MARKERS_TEST=$(markers article test)
    train --offline --task stance --members 5 --out models/heads/stance-markers --hidden 512 --dropout 0.5 \
      --balance per-source --train "${STANCE_TRAIN[@]}" "$ARTICLE_MARKERS_TRAIN" --valid "${VALID[@]}"
    calibrate --offline --task stance --head models/heads/stance-markers --out models/heads/stance-markers \
      --valid "${VALID[@]}"
    STANCE_TEST=($D/stance/semeval2016/test.jsonl $D/stance/cic/test.jsonl
                 $D/stance/efra-macron/test.jsonl $D/stance/rit-referendum/test.jsonl
                 $D/reply-stance/dast/all.jsonl#by=thread_id,part=85-100 $D/reply-stance/rumoureval2019/test.jsonl
                 "$ARTICLE_MARKERS_TEST")
    eval_head stance --data "${STANCE_TEST[@]}"
    eval_head stance --data $D/stance/xstance/valid.jsonl#lang=fr --labels favor,against
    eval_model models/heads/stance-markers stance --by lang --data "${STANCE_TEST[@]}"
    eval_model models/heads/stance-markers stance --data $D/stance/xstance/valid.jsonl#lang=fr --labels favor,against ;;
  irony)
    train --offline --task irony --out models/heads/irony \
      --train $D/irony/tweeteval-irony/train.jsonl $D/irony/isarcasmeval/train.jsonl#part=0-85 \
              $D/irony/multipico/valid.jsonl#part=0-70 \
      --valid "${IRONY_VALID[@]}"
    # Thresholds per language with the best validation macro-F1 (weights unchanged): the argmax
    # flagged 44 % / 23 % / 21 % of the non-ironic validation rows of the three files. The
    # languages without enough validation rows for a threshold of their own (de, fr, hi, it, pt)
    # get the one that flags as many of their ordinary tweets (UMSAB's training split, a
    # sentiment set) as English's threshold flags of English ones; validated languages whose
    # own threshold flags more of theirs (es) are held to that rate too.
    calibrate --offline --task irony --head models/heads/irony --out models/heads/irony --valid "${IRONY_VALID[@]}" \
      --parity $D/sentiment/umsab/train.jsonl --parity-caps-validated
    eval_head irony --data $D/irony/tweeteval-irony/test.jsonl $D/irony/isarcasmeval/test.jsonl \
      $D/irony/multipico/valid.jsonl#part=85-100 ;;
  toxicity)
    # Every toxicity source (fr, de, it, es, pt besides en/ar/fr MLMA and TweetEval), in similar
    # amounts, classes balanced within each file, so that no language is learnt as a sign of
    # toxicity. Then thresholds per language that flag at most 20 % of each language's non-toxic
    # validation rows (chosen on validation against the macro-F1-only thresholds and 15 % / 25 %
    # bounds: the French operating point the issue asks for, see the card).
    VALID=("${TOXICITY_VALID[@]}")
    train --offline --task toxicity --out models/heads/toxicity --balance per-source \
      --train $D/toxicity/tweeteval-offensive/train.jsonl#part=0-15 $D/toxicity/tweeteval-hate/train.jsonl#part=0-18 \
              $D/toxicity/mlma/train.jsonl#part=0-20 $D/toxicity/ftr-fr/train.jsonl#part=0-70 $D/toxicity/germeval2018-de/train.jsonl#part=0-35 \
              $D/toxicity/haspeede2020-it/train.jsonl#part=0-25 $D/toxicity/hateval2019-es/train.jsonl#part=0-35 \
              $D/toxicity/hatebr-pt/train.jsonl#part=0-28 $D/toxicity/toldbr-pt/train.jsonl#part=0-10 \
              $D/toxicity/hatecheck-multi/train.jsonl#part=0-12 \
      --valid "${VALID[@]}"
    calibrate --offline --task toxicity --head models/heads/toxicity --max-false-positives 0.2 --out models/heads/toxicity \
      --valid "${VALID[@]}"
    eval_head toxicity --data $D/toxicity/tweeteval-offensive/test.jsonl $D/toxicity/tweeteval-hate/test.jsonl \
      $D/toxicity/mlma/test.jsonl $D/toxicity/ftr-fr/test.jsonl $D/toxicity/hatecheck-multi/test.jsonl \
      $D/toxicity/germeval2018-de/test.jsonl $D/toxicity/haspeede2020-it/test.jsonl $D/toxicity/hateval2019-es/test.jsonl \
      $D/toxicity/hatebr-pt/test.jsonl $D/toxicity/toldbr-pt/test.jsonl ;;
  reply)
    # Besides the thread replies (mostly `none`), statements and the responses that take a side
    # on them: Wahl-O-Mat theses and party answers, X-Stance German questions and answers (favor
    # → agree, against → disagree). Without them the head called 68 % of the Wahl-O-Mat
    # validation answers `none` and found 2 of 428 disagreements.
    REPLY_TRAIN=($D/reply-stance/rumoureval2019/train.jsonl $D/reply-stance/dast/all.jsonl#by=thread_id,part=0-70
                 $D/stance/wahlomat-de/train.jsonl#by=target_id,part=0-25 $D/stance/xstance/valid.jsonl#lang=de)
    train --offline --task reply --out models/heads/reply --balance per-source \
      --train "${REPLY_TRAIN[@]}" --valid "${REPLY_VALID[@]}"
    # The second head of the default reply blend (since 2026-12-06): the same data and replies
    # that say they agree or disagree in so many words, in six languages (examples/markers,
    # generated from hand-written markers); the head above calls French and Italian dismissals
    # `agree`. Patience 20: this head's validation curve moves by 2-3 points from one epoch to
    # the next, and with 6 it stopped at epoch 6.
    REPLY_MARKERS_TRAIN=$(markers reply train)
    train --offline --task reply --out models/heads/reply-markers --balance per-source --patience 20 \
      --train "${REPLY_TRAIN[@]}" "$REPLY_MARKERS_TRAIN" --valid "${REPLY_VALID[@]}"
    reply_test_files
    eval_head reply --data "${REPLY_TEST[@]}"
    eval_head reply --data $D/stance/xstance/valid.jsonl#lang=fr --labels agree,disagree
    eval_model models/heads/reply-markers reply --data "${REPLY_TEST[@]}" ;;
  *) echo "unknown task $task" >&2; exit 2 ;;
  esac
done
