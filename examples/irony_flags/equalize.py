"""Experiment 2 of models/EVAL.md, "irony flags on ordinary text": per-language thresholds that
flag as many ordinary tweets as English does at its own threshold, scored on MultiPICo.

    python3 examples/irony_flags/equalize.py UMSAB_OUT MULTIPICO_OUT ../shared/data/irony/multipico/valid.jsonl

UMSAB_OUT and MULTIPICO_OUT are `stance classify --tasks irony --map comment_id=id` output
folders of UMSAB's training split and of MultiPICo's file (read alone, so by the irony head).
The shipped thresholds are the irony head's (models/heads/irony/head.json). Needs pyarrow.
"""
import json
import sys

import pyarrow.parquet as pq

HEAD = "models/heads/irony/head.json"


def probabilities(out_dir):
    return pq.read_table(f"{out_dir}/comments.parquet", columns=["comment_id", "lang", "p_ironic"]).to_pylist()


def score(rows, gold, thresholds, default):
    tp = fp = fn = tn = 0
    for r in rows:
        flagged = r["p_ironic"] >= thresholds.get(r["lang"], default)
        ironic = gold[r["comment_id"]]
        tp += flagged and ironic
        fp += flagged and not ironic
        fn += ironic and not flagged
        tn += not flagged and not ironic
    f1 = lambda a, b, c: 2 * a / (2 * a + b + c) if a else 0.0
    return 50 * (f1(tp, fp, fn) + f1(tn, fn, fp)), 100 * fp / (fp + tn), 100 * tp / (tp + fn)


def main(umsab_out, multipico_out, multipico_file):
    decision = json.load(open(HEAD))["thresholds"]
    shipped, default = decision["by_lang"], decision["default"]
    tweets = probabilities(umsab_out)
    by_lang = {}
    for r in tweets:
        by_lang.setdefault(r["lang"], []).append(r["p_ironic"])
    english = sorted(by_lang["en"])
    rate = sum(p >= shipped.get("en", default) for p in english) / len(english)
    equalised = {}
    for lang, ps in sorted(by_lang.items()):
        ps = sorted(ps)
        equalised[lang] = ps[min(len(ps) - 1, int(round(len(ps) * (1 - rate))))]
        print(f"{lang}: flagged {100 * sum(p >= shipped.get(lang, default) for p in ps) / len(ps):.1f} % "
              f"at {shipped.get(lang, default):.2f}; equalised threshold {equalised[lang]:.3f}")
    gold = {}
    for line in open(multipico_file, encoding="utf-8"):
        row = json.loads(line)
        gold[row["id"]] = row["label"] == "ironic"
    rows = probabilities(multipico_out)
    langs = sorted({r["lang"] for r in rows})
    for name, thresholds in [("shipped", shipped), ("equalised", equalised)]:
        for lang in langs + [None]:
            part = [r for r in rows if lang is None or r["lang"] == lang]
            f1, fpr, recall = score(part, gold, thresholds, default)
            print(f"{name} {lang or 'all'} ({len(part)}): macro-F1 {f1:.1f}, non-ironic flagged {fpr:.1f} %, recall {recall:.1f} %")


if __name__ == "__main__":
    main(*sys.argv[1:])
