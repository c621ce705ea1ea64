"""models/EVAL.md, "French toxicity: the threshold is not the limit": for `stance classify`
outputs of labelled toxicity files, the share of non-toxic rows recognised and of toxic rows
found at a range of thresholds on `p_toxic`, for the rows of one language.

    stance classify --offline -q --tasks toxicity --map comment_id=id --out OUT FILE.jsonl
    python3 examples/threshold_sweep.py LANG FILE.jsonl OUT [FILE.jsonl OUT ...]

Needs pyarrow (examples/spark/requirements.txt installs it).
"""
import json
import sys

import pyarrow.parquet as pq

THRESHOLDS = [0.50, 0.55, 0.60, 0.62, 0.64, 0.66, 0.68, 0.70, 0.72, 0.75, 0.80]


def sweep(lang, path, out):
    gold = {}
    for line in open(path, encoding="utf-8"):
        row = json.loads(line)
        if row.get("lang") == lang:
            gold[row["id"]] = row["label"] == "toxic"
    table = pq.read_table(f"{out}/comments.parquet", columns=["comment_id", "p_toxic"]).to_pydict()
    rows = [(p, gold[i]) for i, p in zip(table["comment_id"], table["p_toxic"]) if i in gold]
    clean = [p for p, toxic in rows if not toxic]
    toxic = [p for p, is_toxic in rows if is_toxic]
    print(f"{path}: {len(clean)} non-toxic, {len(toxic)} toxic ({lang})")
    for t in THRESHOLDS:
        recognised = sum(p < t for p in clean) / max(1, len(clean))
        found = sum(p >= t for p in toxic) / max(1, len(toxic))
        print(f"  threshold {t:.2f}: non-toxic recognised {100 * recognised:5.1f} %, toxic found {100 * found:5.1f} %")


if __name__ == "__main__":
    lang, pairs = sys.argv[1], sys.argv[2:]
    for path, out in zip(pairs[::2], pairs[1::2]):
        sweep(lang, path, out)
