"""models/EVAL.md, "answers read as replies to each other": from a stance file whose rows answer
shared questions (`target_id`), pairs of answers to the same question, written as stance rows
that the reply task reads as parent → reply: `target` is the first answer, `text` the second,
`label` is `favor` (read as agree) when both take the same side and `against` (disagree) when
they take opposite sides. Rows labelled `none` are left out.

    python3 examples/reply_pairs/make_pairs.py FILE LANG PER_ANSWER > OUT.jsonl

Each answer is the reply in PER_ANSWER pairs, its parents drawn from the other answers to the
same question (seeded: the same file gives the same pairs).
"""
import json
import random
import sys
from collections import Counter, defaultdict


def main(path, lang, per_answer):
    rng = random.Random(13)
    by_question = defaultdict(list)
    for line in open(path, encoding="utf-8"):
        row = json.loads(line)
        if row["lang"] == lang and row["label"] in ("favor", "against"):
            by_question[row["target_id"]].append(row)
    counts = Counter()
    for question in sorted(by_question):
        answers = by_question[question]
        for reply in answers:
            parents = [a for a in answers if a is not reply]
            rng.shuffle(parents)
            for parent in parents[:per_answer]:
                label = "favor" if parent["label"] == reply["label"] else "against"
                counts[label] += 1
                pair = {"id": f"{parent['id']}>{reply['id']}", "target": parent["text"], "text": reply["text"],
                        "label": label, "lang": lang, "target_id": question}
                print(json.dumps(pair, ensure_ascii=False))
    print(f"{len(by_question)} questions, pairs: {dict(counts)}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
