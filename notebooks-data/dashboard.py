"""How a dashboard reads stance's outputs: polars for the tables, DuckDB for SQL.

    pip install polars duckdb
    python notebooks-data/dashboard.py notebooks-data/durov/out  # or any `stance classify --out` folder

Reads the Parquet written by `stance classify` and prints the figures a dashboard would chart.
Works the same on hive-partitioned outputs (`--partition-by article|day`).
"""

import json
import sys
from pathlib import Path

import duckdb
import polars as pl

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "durov" / "out")


def table(name: str) -> str:
    """A glob that reads `name` as one file or as a hive-partitioned folder."""
    folder = out / name
    return str(folder / "**" / "*.parquet") if folder.is_dir() else str(out / f"{name}.parquet")


# polars: one row per comment, with every prediction and its probabilities.
comments = pl.read_parquet(table("comments"), hive_partitioning=True)
print(f"{comments.height} comments, columns: {', '.join(comments.columns)}\n")

print("Stance and sentiment per language:")
print(
    comments.group_by("lang")
    .agg(
        pl.len().alias("n"),
        (pl.col("stance") == "favor").mean().alias("share_favor"),
        (pl.col("stance") == "against").mean().alias("share_against"),
        pl.col("p_positive").mean().alias("mean_p_positive"),
        pl.col("toxic").mean().alias("share_toxic"),
    )
    .sort("n", descending=True)
)

# The run that produced the files travels inside every Parquet file.
meta = pl.read_parquet_metadata(table("comments") if "*" not in table("comments") else next(out.glob("comments/**/*.parquet")))
run = json.loads(meta["stance.run"])
print(f"\nmodel: {run['models'][0]['id']}; heads: {', '.join(h['task'] for h in run['heads'])}")

# DuckDB: the same files with SQL, e.g. the thread table behind a dashboard tile.
con = duckdb.connect()
print("\nThreads (DuckDB):")
print(
    con.sql(
        f"""
        SELECT article_id, n_comments, round(share_favor, 2) AS favor, round(share_against, 2) AS against,
               round(net_stance, 2) AS net, round(polarization, 2) AS polarization,
               round(controversy, 3) AS controversy
        FROM read_parquet('{table("threads")}')
        ORDER BY n_comments DESC
        LIMIT 10
        """
    )
)
print("\nMost disagreed-with replies (DuckDB):")
print(
    con.sql(
        f"""
        SELECT c.author, c.reply, round(c.p_disagree, 2) AS p_disagree, left(c.text, 70) AS text
        FROM read_parquet('{table("comments")}', hive_partitioning = true) AS c
        WHERE c.reply IS NOT NULL
        ORDER BY c.p_disagree DESC
        LIMIT 5
        """
    )
)
