"""Spark local[2] against one machine: the same comments, labels, probabilities and aggregates.

    python tests/spark/check_spark.py STANCE_BIN [WORK_DIR]

Needs pyspark and pyarrow (`.ci/run` installs them into a venv) and ../shared. Builds a few
hundred comments of the 2k bench into four Parquet files with every row of a thread dealt to
the files in turn (so threads are split across files on purpose), runs `stance classify` on the
four files, then `examples/spark/run.sh` on the folder, and compares:

- comments: the same columns in the same order, the same comment ids, identical labels and
  every other non-probability column, |Δp| ≤ 1e-6;
- threads, authors, daily: the same columns and rows; counts and shares equal, means of
  probabilities within 1e-6 (they average the probabilities above).

Exits non-zero with the differences listed.
"""

import json
import math
import os
import shutil
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
BENCH = os.path.join(SHARED, "data", "bench")
TOLERANCE = 1e-6
N_FILES = 4


def fixture(folder):
    """Whole threads of the 2k bench, reply-rich ones first, up to ~300 comments, dealt to 4 files."""
    rows = [json.loads(line) for line in open(os.path.join(BENCH, "comments-2k.jsonl"))]
    by_article = {}
    for r in rows:
        by_article.setdefault(r["article_id"], []).append(r)
    with_replies = sorted(a for a, rs in by_article.items() if sum(r["parent_id"] is not None for r in rs) >= 2)
    without = sorted(a for a in by_article if a not in with_replies)
    chosen, n = [], 0
    for a in with_replies[:18] + without[::12]:
        chosen.append(a)
        n += len(by_article[a])
        if n >= 300:
            break
    kept = [r for r in rows if r["article_id"] in set(chosen)]
    os.makedirs(folder)
    files = []
    for k in range(N_FILES):
        part = kept[k::N_FILES]
        path = os.path.join(folder, f"part-{k}.parquet")
        pq.write_table(pa.Table.from_pylist(part, schema=pa.schema([(c, pa.string()) for c in part[0]])), path)
        files.append(path)
    split = sum(len({i % N_FILES for i, r in enumerate(kept) if r["article_id"] == a}) > 1 for a in chosen)
    print(f"fixture: {len(kept)} comments, {sum(r['parent_id'] is not None for r in kept)} replies, "
          f"{len(chosen)} threads ({split} split across files), {N_FILES} Parquet files")
    return files


def read_dir(path):
    if os.path.isfile(path):
        return pq.read_table(path)
    files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="permissive")


def plain_types(table):
    """View and large types as their plain forms (pyarrow sorts and compares those)."""
    def fix(t):
        if pa.types.is_string_view(t) or pa.types.is_large_string(t):
            return pa.string()
        if pa.types.is_binary_view(t) or pa.types.is_large_binary(t):
            return pa.binary()
        if pa.types.is_list_view(t) or pa.types.is_large_list(t) or pa.types.is_list(t):
            return pa.list_(fix(t.value_type))
        return t
    return table.cast(pa.schema([pa.field(f.name, fix(f.type)) for f in table.schema]))


def compare(name, ref, got, keys, problems):
    ref, got = plain_types(ref), plain_types(got)
    ref_cols, got_cols = ref.column_names, got.column_names
    if ref_cols != got_cols:
        problems.append(f"{name}: columns differ:\n  one machine {ref_cols}\n  spark       {got_cols}")
        return
    ref = ref.sort_by([(k, "ascending") for k in keys]).to_pylist()
    got = got.sort_by([(k, "ascending") for k in keys]).to_pylist()
    if [tuple(r[k] for k in keys) for r in ref] != [tuple(r[k] for k in keys) for r in got]:
        problems.append(f"{name}: rows differ: {len(ref)} vs {len(got)}")
        return
    worst = {}
    for a, b in zip(ref, got):
        for c in ref_cols:
            x, y = a[c], b[c]
            if isinstance(x, float) or isinstance(y, float):
                if x is None or y is None or (isinstance(x, float) and math.isnan(x)):
                    ok = x is None and y is None or (x is not None and y is not None and math.isnan(x) and math.isnan(y))
                else:
                    worst[c] = max(worst.get(c, 0.0), abs(x - y))
                    ok = abs(x - y) <= TOLERANCE
            else:
                ok = x == y
            if not ok:
                problems.append(f"{name}: {c} of {[a[k] for k in keys]}: one machine {a[c]!r}, spark {b[c]!r}")
    largest = max(worst.items(), key=lambda kv: kv[1]) if worst else ("-", 0.0)
    print(f"{name}: {len(ref)} rows, {len(ref_cols)} columns; largest float difference {largest[1]:.2e} ({largest[0]})")


def main():
    stance = os.path.abspath(sys.argv[1])
    work = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "target", "spark-check")
    shutil.rmtree(work, ignore_errors=True)
    files = fixture(os.path.join(work, "in"))
    articles = os.path.join(BENCH, "articles.jsonl")

    started = time.time()
    subprocess.run([stance, "classify", *files, "--articles", articles, "--out", os.path.join(work, "one"),
                    "--quiet"], check=True)
    one_machine = time.time() - started
    started = time.time()
    env = dict(os.environ, STANCE_BIN=stance, STANCE_SPARK_PYTHON=sys.executable)
    subprocess.run([os.path.join(ROOT, "examples", "spark", "run.sh"), os.path.join(work, "in"),
                    os.path.join(work, "spark"), "--articles", articles, "--", "--quiet"], check=True, env=env)
    spark = time.time() - started
    print(f"one machine {one_machine:.1f}s, spark local[2] {spark:.1f}s")

    problems = []
    one, sp = os.path.join(work, "one"), os.path.join(work, "spark")
    ref = read_dir(os.path.join(one, "comments.parquet"))
    # Spark has no unsigned integers: compare values, not widths.
    got = read_dir(os.path.join(sp, "comments"))
    compare("comments", ref, got, ["comment_id"], problems)
    compare("threads", read_dir(os.path.join(one, "threads.parquet")), read_dir(os.path.join(sp, "threads")),
            ["article_id"], problems)
    compare("authors", read_dir(os.path.join(one, "authors.parquet")), read_dir(os.path.join(sp, "authors")),
            ["author"], problems)
    compare("daily", read_dir(os.path.join(one, "daily.parquet")), read_dir(os.path.join(sp, "daily")),
            ["article_id", "day"], problems)
    if problems:
        print(f"{len(problems)} difference(s):", *problems[:40], sep="\n  ")
        sys.exit(1)
    print("spark local[2] matches one machine")


if __name__ == "__main__":
    main()
