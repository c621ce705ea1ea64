"""Label agreement between two `stance classify` output folders (BENCH.md, error tables).

    python3 examples/compare_labels.py OUT_REFERENCE OUT_OTHER

For each task column of comments.parquet, the share of comments (by comment_id) whose label is
the same in both folders, then the largest change of any probability column and the mean
change of each. Needs pyarrow (examples/spark/requirements.txt installs it).
"""
import sys

import pyarrow.parquet as pq

LABELS = ["sentiment", "stance", "ironic", "toxic", "reply"]


def main(reference_dir, other_dir):
    reference = pq.read_table(f"{reference_dir}/comments.parquet").to_pylist()
    other = {r["comment_id"]: r for r in pq.read_table(f"{other_dir}/comments.parquet").to_pylist()}
    for column in LABELS:
        rows = [r for r in reference if r.get(column) is not None]
        same = sum(1 for r in rows if other[r["comment_id"]][column] == r[column])
        print(f"{column}: {same}/{len(rows)} = {100 * same / max(len(rows), 1):.2f} %")
    probabilities = [c for c in reference[0] if c.startswith("p_")] if reference else []
    largest = max(
        (abs(r[c] - other[r["comment_id"]][c]) for r in reference for c in probabilities if r[c] is not None),
        default=0.0,
    )
    print(f"largest change of a probability: {largest:.4f}")
    # The mean change per class measures the error without the luck of which comments sit near
    # a decision boundary (BENCH.md, "Why int8 is not the default").
    means = []
    for c in probabilities:
        changes = [abs(r[c] - other[r["comment_id"]][c]) for r in reference if r[c] is not None]
        means.append(f"{c[2:]} {1000 * sum(changes) / max(len(changes), 1):.2f}")
    print("mean change of the probabilities (x1e-3): " + ", ".join(means))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
