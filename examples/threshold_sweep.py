"""models/EVAL.md, "French toxicity, the threshold is not the limit": for `stance classify`
outputs of labelled toxicity files, the share of non-toxic rows recognised and of toxic rows
found at a range of thresholds on `p_toxic`, for the rows of one language; then how well
`p_toxic` ranks them (the area under the ROC curve: the chance that a toxic row scores above a
non-toxic one), and the same over all the files' rows together.

    stance classify --offline -q --tasks toxicity --map comment_id=id --out OUT FILE.jsonl
    python3 examples/threshold_sweep.py LANG FILE.jsonl OUT [FILE.jsonl OUT ...]

Needs pyarrow (examples/spark/requirements.txt installs it).
"""
import json
import sys

import pyarrow.parquet as pq

THRESHOLDS = [0.50, 0.55, 0.60, 0.62, 0.64, 0.65, 0.66, 0.68, 0.70, 0.72, 0.75, 0.80]


def scored_rows(lang, path, out):
    """(p_toxic, is_toxic) of the file's rows in `lang`."""
    gold = {}
    for line in open(path, encoding="utf-8"):
        row = json.loads(line)
        if row.get("lang") == lang:
            gold[row["id"]] = row["label"] == "toxic"
    table = pq.read_table(f"{out}/comments.parquet", columns=["comment_id", "p_toxic"]).to_pydict()
    return [(p, gold[i]) for i, p in zip(table["comment_id"], table["p_toxic"]) if i in gold]


def auc(clean, toxic):
    above = sum((p > q) + 0.5 * (p == q) for p in toxic for q in clean)
    return above / max(1, len(clean) * len(toxic))


def sweep(title, rows):
    clean = [p for p, is_toxic in rows if not is_toxic]
    toxic = [p for p, is_toxic in rows if is_toxic]
    print(f"{title}: {len(clean)} non-toxic, {len(toxic)} toxic, ROC AUC {100 * auc(clean, toxic):.1f}")
    for t in THRESHOLDS:
        recognised = sum(p < t for p in clean) / max(1, len(clean))
        found = sum(p >= t for p in toxic) / max(1, len(toxic))
        print(f"  threshold {t:.2f}: non-toxic recognised {100 * recognised:5.1f} %, toxic found {100 * found:5.1f} %")


if __name__ == "__main__":
    lang, pairs = sys.argv[1], sys.argv[2:]
    everything = []
    for path, out in zip(pairs[::2], pairs[1::2]):
        rows = scored_rows(lang, path, out)
        sweep(f"{path} ({lang})", rows)
        everything += rows
    if len(pairs) > 2:
        sweep(f"all {len(pairs) // 2} files together ({lang})", everything)
