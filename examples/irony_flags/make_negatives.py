"""Experiment 1 of models/EVAL.md, "irony flags on ordinary text": 250 UMSAB training tweets per
language (the first by SHA-256 of their text), labelled `not_ironic`, as extra training rows for
the irony head.

    python3 examples/irony_flags/make_negatives.py ../shared/data/sentiment/umsab/train.jsonl > OUT.jsonl
"""
import hashlib
import json
import sys
from collections import defaultdict

PER_LANGUAGE = 250


def main(path):
    by_lang = defaultdict(list)
    for line in open(path, encoding="utf-8"):
        row = json.loads(line)
        by_lang[row["lang"]].append(row)
    for lang, rows in sorted(by_lang.items()):
        rows.sort(key=lambda r: hashlib.sha256(r["text"].encode()).hexdigest())
        for r in rows[:PER_LANGUAGE]:
            out = {"id": f"umsab-{r['id']}", "text": r["text"], "label": "not_ironic", "lang": lang}
            print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1])
