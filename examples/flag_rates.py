"""Share of comments flagged per language in a `stance classify` output folder (models/EVAL.md,
"irony flags on ordinary text").

    python3 examples/flag_rates.py OUT [COLUMN]

COLUMN is a boolean flag of comments.parquet: `ironic` (the default) or `toxic`. Prints each
language's flagged share, largest first, then the whole folder's. Needs pyarrow
(examples/spark/requirements.txt installs it).
"""
import sys
from collections import defaultdict

import pyarrow.parquet as pq


def main(out_dir, column="ironic"):
    rows = pq.read_table(f"{out_dir}/comments.parquet", columns=["lang", column]).to_pylist()
    counts = defaultdict(lambda: [0, 0])
    for r in rows:
        if r[column] is not None:
            counts[r["lang"]][0] += 1
            counts[r["lang"]][1] += bool(r[column])
    for lang, (n, flagged) in sorted(counts.items(), key=lambda kv: -kv[1][1] / kv[1][0]):
        print(f"{lang}: {flagged}/{n} = {100 * flagged / n:.1f} % {column}")
    n = sum(c[0] for c in counts.values())
    flagged = sum(c[1] for c in counts.values())
    print(f"all: {flagged}/{n} = {100 * flagged / max(n, 1):.1f} % {column}")


if __name__ == "__main__":
    main(*sys.argv[1:])
