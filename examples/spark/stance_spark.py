"""`stance classify` inside Apache Spark: the same predictions and aggregates as one machine.

    spark-submit stance_spark.py IN_DIR OUT_DIR [--articles PATH] [--stance BIN] [--model DIR]
                 [--partitions N] [-- CLASSIFY-FLAGS]

(`run.sh` beside this file wraps it.) IN_DIR is a folder (or file) of Parquet or JSONL comment
tables. Comments are repartitioned by `article_id`, so that every thread is whole in one
partition (a reply is scored with its parent's text, and depth/root/orphans are computed per
thread), sorted inside each partition, and each partition goes through one
`stance classify - --stdout parquet --threads 1` process: the partition as Parquet on its stdin,
the comments table with predictions as Parquet on its stdout (`mapInArrow`, no row-by-row
conversion, every column type kept). OUT_DIR gets

- `comments/`: Parquet parts with the columns of `stance classify`'s `comments.parquet`
  (unsigned integers widened to signed ones, which Spark lacks);
- `threads/`, `authors/`, `daily/`: one Parquet part each, computed with Spark `groupBy` from
  the metric definitions of `stance-aggregate` (README, "Metrics"), columns in the same order.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
import time
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark import SparkFiles
from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import from_arrow_schema

# Tasks as the comments table carries them (stance_core::task): label column, its labels with
# (probability, share, mean) columns, or a flag with its probability column.
CATEGORICAL = {
    "stance": ("n_stance_labelled", [("favor", "p_favor", "share_favor", "mean_p_favor"),
                                     ("against", "p_against", "share_against", "mean_p_against"),
                                     ("none", "p_none", "share_none", "mean_p_none")]),
    "sentiment": ("n_sentiment_labelled", [("negative", "p_negative", "share_negative", "mean_p_negative"),
                                           ("neutral", "p_neutral", "share_neutral", "mean_p_neutral"),
                                           ("positive", "p_positive", "share_positive", "mean_p_positive")]),
    "reply": ("n_reply_labelled", [("agree", "p_agree", "share_agree", "mean_p_agree"),
                                   ("disagree", "p_disagree", "share_disagree", "mean_p_disagree"),
                                   ("none", "p_none_reply", "share_none_reply", "mean_p_none_reply")]),
}
FLAGS = {
    "ironic": ("n_irony_labelled", "p_ironic", "share_ironic", "mean_p_ironic"),
    "toxic": ("n_toxicity_labelled", "p_toxic", "share_toxic", "mean_p_toxic"),
}
# Column order of each table: the order of the metrics table (stance-aggregate's METRICS).
ORDER = """article_id author day title target lang url published n_articles n_comments n_authors
n_anonymous n_top_level n_replies n_orphans n_undated max_depth first_comment_at last_comment_at
n_stance_labelled share_favor share_against share_none net_stance polarization mean_p_favor
mean_p_against mean_p_none n_sentiment_labelled share_negative share_neutral share_positive
mean_polarity mean_p_negative mean_p_neutral mean_p_positive n_irony_labelled share_ironic
mean_p_ironic n_toxicity_labelled share_toxic mean_p_toxic n_reply_labelled share_agree
share_disagree share_none_reply mean_p_agree mean_p_disagree mean_p_none_reply
n_replies_received n_disagree_received controversy most_contested_ids""".split()
TABLES = {
    "threads": set("""article_id title target lang url published n_comments n_authors n_top_level
        n_replies n_orphans n_undated max_depth first_comment_at last_comment_at controversy
        most_contested_ids""".split()),
    "authors": set("""author n_articles n_comments n_replies n_undated first_comment_at
        last_comment_at n_replies_received n_disagree_received""".split()),
    "daily": set("article_id day n_comments n_authors n_replies".split()),
}
TASK_METRIC = re.compile(r"^(n_\w+_labelled|share_\w+|mean_p\w*|mean_polarity|net_stance|polarization)$")
# Columns stance-ingest adds to comments only when some comment needs them.
OPTIONAL = ["missing_parent_id", "cycle_parent_id"]
HALF_VOLUME = 20.0  # AggregateOptions::default().controversy_half_volume
TOP_CONTESTED = 5  # AggregateOptions::default().top_contested

# `created_at` as stance-aggregate reads it (time.rs): RFC 3339 with an offset → UTC; a naive
# time taken as UTC; a bare date at midnight; anything else unknown.
RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
NAIVE = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(\.\d+)?)?$")
EPOCH = datetime(1970, 1, 1)


def created_at_millis(raw):
    if raw is None:
        return None
    raw = raw.strip()
    try:
        m = RFC3339.match(raw)
        if m:
            date, clock, frac, zone = m.groups()
            t = datetime.fromisoformat(f"{date}T{clock}{'+00:00' if zone in 'Zz' else zone}")
            micros = int(((frac or ".0")[1:] + "000000")[:6])
            ms = int(t.astimezone(timezone.utc).replace(tzinfo=None).__sub__(EPOCH).total_seconds()) * 1000
            return ms + micros // 1000
        m = NAIVE.match(raw)
        if m:
            date, hm, sec, frac = m.groups()
            seconds = sec[1:3] if sec else "00"
            t = datetime.fromisoformat(f"{date}T{hm}:{seconds}")
            micros = int(((frac or ".0")[1:] + "000000")[:6])
            return int((t - EPOCH).total_seconds()) * 1000 + micros // 1000
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            return int((datetime.fromisoformat(raw) - EPOCH).total_seconds()) * 1000
    except ValueError:
        return None
    return None


def read_table(spark, path, kind=None):
    """A file or folder of Parquet or JSONL tables (by extension; `kind` for a URL such as
    hdfs://…, which Spark lists itself), strings for all-null columns."""
    if "://" in path:
        df = spark.read.json(path) if kind == "jsonl" else spark.read.parquet(path)
        return with_typed_nulls(df)
    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(root, f) for root, _, names in os.walk(path) for f in names
        if not f.startswith((".", "_")))
    parquet = [f for f in files if f.endswith((".parquet", ".pq"))]
    jsonl = [f for f in files if f.endswith((".jsonl", ".ndjson", ".json", ".jsonl.gz", ".jsonl.zst"))]
    if parquet and jsonl:
        sys.exit(f"stance-spark: {path} mixes Parquet and JSONL files; give one kind")
    if not parquet and not jsonl:
        sys.exit(f"stance-spark: no .parquet or .jsonl files in {path}")
    return with_typed_nulls(spark.read.parquet(*parquet) if parquet else spark.read.json(jsonl))


def with_typed_nulls(df):
    for field in df.schema.fields:
        if isinstance(field.dataType, T.NullType):
            df = df.withColumn(field.name, F.col(field.name).cast("string"))
    return df


def spark_arrow_schema(schema):
    """The Arrow schema Spark can take: unsigned integers widened, large types made plain."""
    def fix(t):
        if pa.types.is_uint8(t):
            return pa.int16()
        if pa.types.is_uint16(t):
            return pa.int32()
        if pa.types.is_uint32(t) or pa.types.is_uint64(t):
            return pa.int64()
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return pa.string()
        if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
            return pa.binary()
        if pa.types.is_large_list(t) or pa.types.is_list(t):
            return pa.list_(fix(t.value_type))
        if pa.types.is_null(t):
            return pa.string()
        return t
    return pa.schema([pa.field(f.name, fix(f.type)) for f in schema])


def stance_command(stance, articles, flags):
    command = [stance, "classify", "-", "--stdout", "parquet", "--threads", "1"]
    if articles:
        command += ["--articles", articles]
    return command + flags


def run_stance(command, table):
    """One `stance` process over one Arrow table; its comments table back."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    done = subprocess.run(command, input=sink.getvalue().to_pybytes(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr.decode(errors='replace')}")
    return pq.read_table(pa.BufferReader(done.stdout))


def main():
    argv = sys.argv[1:]
    flags = []
    if "--" in argv:
        at = argv.index("--")
        argv, flags = argv[:at], argv[at + 1:]
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("input")
    p.add_argument("out")
    p.add_argument("--articles", help="articles table (file or folder, Parquet or JSONL)")
    p.add_argument("--stance", default=os.environ.get("STANCE_BIN", "stance"),
                   help="the stance binary on the driver (and on executors unless --executor-stance)")
    p.add_argument("--executor-stance",
                   help="the stance binary on executors, e.g. ./bundle/stance from --archives bundle.tar.gz#bundle")
    p.add_argument("--input-format", choices=["parquet", "jsonl"],
                   help="format of a URL input (hdfs://, s3a://, …); local folders go by extension")
    p.add_argument("--model", help="encoder folder on every executor (else $STANCE_MODEL_DIR, ../shared)")
    p.add_argument("--partitions", type=int, default=0,
                   help="partitions (stance processes) [default: spark.default.parallelism]")
    args = p.parse_args(argv)
    if args.model:
        flags = ["--model", args.model] + flags

    clock = Clock()
    spark = (SparkSession.builder.appName("stance")
             .config("spark.sql.session.timeZone", "UTC")
             # Times as one machine writes them: UTC instants in milliseconds, not INT96.
             .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MILLIS")
             .getOrCreate())
    clock.lap("spark session")
    sc = spark.sparkContext
    stance = args.stance
    if os.path.exists(stance):
        stance = os.path.abspath(stance)

    comments = read_table(spark, args.input, args.input_format)
    executor_stance = args.executor_stance or stance
    articles_file = None
    if args.articles:
        # Articles are small: validated once by `stance ingest` on the driver (the same reader
        # as one machine), then one JSONL file shipped to every executor and read by each process.
        staging = tempfile.mkdtemp(prefix="stance-articles-")
        paths = [args.articles] if os.path.isfile(args.articles) else sorted(
            os.path.join(root, f) for root, _, names in os.walk(args.articles) for f in names
            if not f.startswith((".", "_")))
        subprocess.run([stance, "ingest", *paths, "--out", os.path.join(staging, "out"), "--quiet"], check=True)
        articles_file = os.path.join(staging, "out", "articles.jsonl")
        sc.addFile(articles_file)
        staging_articles = staging

    def command():
        shipped = SparkFiles.get("articles.jsonl") if articles_file else None
        return stance_command(executor_stance, shipped, flags)

    # The output schema: stance's on one comment, with the same flags and input columns, plus
    # the columns ingest adds only when a thread needs them (an orphan, a broken cycle). The
    # probe's stance process runs while Spark plans the partitions.
    probe_input = comments.limit(1).toArrow()
    probe = {}
    prober = threading.Thread(target=lambda: probe.update(
        schema=run_stance(stance_command(stance, articles_file, flags), probe_input).schema))
    prober.start()
    n = args.partitions or sc.defaultParallelism
    buckets = balanced_buckets(spark, comments, n)
    prober.join()
    if "schema" not in probe:
        sys.exit("stance-spark: stance failed on the first comment (see above)")
    fields = list(probe["schema"])
    at = probe["schema"].get_field_index("n_tokens")
    for name in OPTIONAL:
        if probe["schema"].get_field_index(name) < 0:
            fields.insert(at, pa.field(name, pa.string()))
            at += 1
    out_arrow = spark_arrow_schema(pa.schema(fields))
    out_schema = from_arrow_schema(out_arrow)
    clock.lap(f"output schema (stance on one comment) and {n} balanced partitions")

    def classify(batches):
        batches = list(batches)
        if not batches or sum(b.num_rows for b in batches) == 0:
            return
        table = run_stance(command(), pa.Table.from_batches(batches))
        for name in out_arrow.names:
            if table.schema.get_field_index(name) < 0:
                table = table.append_column(name, pa.nulls(table.num_rows, out_arrow.field(name).type))
        for batch in table.select(out_arrow.names).cast(out_arrow).to_batches():
            yield batch

    key = F.col("article_id").cast("string")
    classified = (comments.join(F.broadcast(buckets), key == F.col("__article"), "left")
                  .repartitionById(n, "__bucket").drop("__article", "__bucket")
                  .sortWithinPartitions("article_id", "comment_id")
                  .mapInArrow(classify, out_schema))
    # Not `_`-prefixed: Spark skips such paths as hidden.
    staging = os.path.join(args.out, "comments.staging")
    classified.write.mode("overwrite").parquet(staging)
    # One machine writes an optional column only when some comment has it: so do we. Counting
    # them reads one Parquet column; the rewrite is I/O only (stance does not run again).
    staged = spark.read.parquet(staging)
    present = staged.select(*[F.count(c).alias(c) for c in OPTIONAL]).first().asDict()
    comments_dir = os.path.join(args.out, "comments")
    staged.drop(*[c for c in OPTIONAL if present[c] == 0]).write.mode("overwrite").parquet(comments_dir)
    delete(sc, staging)
    clock.lap(f"classify ({n} partitions) and write comments/")
    # Aggregates from the written comments (stance does not run twice).
    scored = spark.read.parquet(comments_dir)
    articles = local_articles(spark, articles_file) if articles_file else None
    # The three tables are independent jobs: run them side by side so the cores stay busy.
    tables = aggregate(spark, scored, articles)
    with ThreadPoolExecutor(len(tables)) as pool:
        list(pool.map(lambda item: item[1].coalesce(1).write.mode("overwrite").parquet(
            os.path.join(args.out, item[0])), tables.items()))
    if articles_file:
        shutil.rmtree(staging_articles)
    clock.lap("threads, authors, daily")
    spark.stop()
    print(f"stance-spark: {clock}", file=sys.stderr)


def delete(sc, path):
    """Removes a folder on any Hadoop file system (local, hdfs://, s3a://, …)."""
    jvm = sc._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    hadoop_path.getFileSystem(sc._jsc.hadoopConfiguration()).delete(hadoop_path, True)


def local_articles(spark, path):
    """The ingested articles (a local file on the driver) as a DataFrame of the thread columns."""
    names = ["article_id", "title", "target", "lang", "url", "published"]
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    text = lambda v: None if v is None else v if isinstance(v, str) else json.dumps(v)
    return spark.createDataFrame([tuple(text(r.get(c)) for c in names) for r in rows],
                                 ", ".join(f"{c} string" for c in names))


class Clock:
    """Wall time of each stage, for the line printed at the end."""

    def __init__(self):
        self.start = self.last = time.time()
        self.laps = []

    def lap(self, name):
        now = time.time()
        self.laps.append(f"{name} {now - self.last:.1f}s")
        self.last = now

    def __str__(self):
        return f"{', '.join(self.laps)}; total {time.time() - self.start:.1f}s"


def balanced_buckets(spark, comments, n):
    """(article, partition) with whole threads and about the same encoder work per partition:
    threads by text length, longest first, each to the lightest partition so far. One row per
    article is collected to the driver (a few million articles is fine)."""
    weights = (comments.groupBy(F.col("article_id").cast("string").alias("a"))
               .agg(F.sum(F.length("text") + 16).alias("w")).collect())
    load = [0] * n
    rows = []
    for r in sorted(weights, key=lambda r: (-(r["w"] or 0), r["a"] or "")):
        b = min(range(n), key=lambda i: (load[i], i))
        load[b] += r["w"] or 0
        rows.append((r["a"], b))
    return spark.createDataFrame(rows, "__article string, __bucket int")


def prepared(comments):
    """The working columns of stance-aggregate's prepare.rs."""
    cols = set(comments.columns)
    ts_type = comments.schema["created_at"].dataType if "created_at" in cols else None
    if ts_type is None:
        ts = F.lit(None).cast("long")
    elif isinstance(ts_type, (T.TimestampType, T.TimestampNTZType)):
        # Zoned: its instant; naive: its wall clock as UTC (the session time zone is UTC).
        ts = F.floor(F.unix_micros(F.col("created_at").cast("timestamp")) / 1000).cast("long")
    elif isinstance(ts_type, T.DateType):
        ts = F.unix_date(F.col("created_at")).cast("long") * 86_400_000
    else:
        ts = F.udf(created_at_millis, T.LongType())(F.col("created_at").cast("string"))
    str_or_null = lambda name: F.col(name).cast("string") if name in cols else F.lit(None).cast("string")
    df = comments.select(
        "*",
        ts.alias("__ts"),
        str_or_null("author").alias("__author"),
        str_or_null("parent_id").alias("__parent"),
        (F.col("missing_parent_id").isNotNull() if "missing_parent_id" in cols else F.lit(False)).alias("__orphan"),
    ).withColumn("article_id", F.col("article_id").cast("string")).withColumn("comment_id", F.col("comment_id").cast("string"))
    df = df.withColumn("__day", F.date_from_unix_date(F.floor(F.col("__ts") / 86_400_000).cast("int")))
    has_reply = "reply" in cols
    counts = [F.count(F.lit(1)).alias("__received")]
    if has_reply:
        counts.append(F.sum((F.col("reply") == "disagree").cast("long")).alias("__received_disagree"))
    received = (df.where(F.col("__parent").isNotNull())
                .groupBy(F.col("article_id").alias("__ra"), F.col("__parent").alias("__rp")).agg(*counts))
    df = df.join(received, (df.article_id == received.__ra) & (df.comment_id == received.__rp), "left").drop("__ra", "__rp")
    df = df.fillna(0, subset=["__received"] + (["__received_disagree"] if has_reply else []))
    return df


def group_metrics(table, cols):
    """Aggregations of exprs.rs::group_exprs for `table`, by metric name."""
    def count(pred):
        return F.sum(pred.cast("long"))

    def ratio(num, den):
        return F.when(den > 0, num.cast("double") / den.cast("double"))

    m = {
        "n_articles": F.countDistinct("article_id"),
        "n_comments": F.count(F.lit(1)),
        "n_authors": F.countDistinct("__author"),
        "n_anonymous": count(F.col("__author").isNull()),
        "n_top_level": count(F.col("__parent").isNull()),
        "n_replies": count(F.col("__parent").isNotNull()),
        "n_orphans": count(F.col("__orphan")),
        "n_undated": count(F.col("__ts").isNull()),
        "first_comment_at": F.timestamp_millis(F.min("__ts")),
        "last_comment_at": F.timestamp_millis(F.max("__ts")),
        "n_replies_received": F.sum("__received"),
    }
    if "depth" in cols:
        m["max_depth"] = F.max("depth")
    for label, (n_name, labels) in CATEGORICAL.items():
        if label not in cols:
            continue
        n = F.count(label)
        m[n_name] = n
        for value, prob, share, mean in labels:
            m[share] = ratio(count(F.col(label) == value), n)
        if label == "sentiment" and {"p_positive", "p_negative"} <= cols:
            m["mean_polarity"] = F.avg(F.col("p_positive").cast("double") - F.col("p_negative").cast("double"))
        for value, prob, share, mean in labels:
            if prob in cols:
                m[mean] = F.avg(F.col(prob).cast("double"))
    for label, (n_name, prob, share, mean) in FLAGS.items():
        if label not in cols:
            continue
        n = F.count(label)
        m[n_name] = n
        m[share] = ratio(count(F.col(label)), n)
        if prob in cols:
            m[mean] = F.avg(F.col(prob).cast("double"))
    if "reply" in cols:
        m["n_disagree_received"] = F.sum("__received_disagree")
    return {k: v for k, v in m.items() if in_table(table, k)}


def in_table(table, name):
    """The metric's `tables` in metrics.rs: task metrics are in every table."""
    return name in TABLES[table] or bool(TASK_METRIC.match(name))


def derived(df, table, cols):
    """exprs.rs::derived_exprs: net stance, polarization, controversy."""
    if "stance" in cols:
        f, a = F.col("share_favor"), F.col("share_against")
        df = df.withColumn("net_stance", f - a).withColumn("polarization", f + a - (f - a) * (f - a))
    if table == "threads" and "stance" in cols and "reply" in cols:
        n = F.col("n_comments").cast("double")
        conflict = F.coalesce(F.col("polarization"), F.lit(0.0)) + F.coalesce(F.col("share_disagree"), F.lit(0.0))
        df = df.withColumn("controversy", n / (n + F.lit(HALF_VOLUME)) * conflict / F.lit(2.0))
    return df


def ordered(df):
    return df.select(*[c for c in ORDER if c in df.columns])


def aggregate(spark, comments, articles):
    cols = set(comments.columns)
    df = prepared(comments).cache()  # read by all three tables
    out = {}

    metrics = group_metrics("threads", cols)
    per_article = derived(df.groupBy("article_id").agg(*[e.alias(k) for k, e in metrics.items()]), "threads", cols)
    ids = df.select("article_id")
    info_columns = ("title", "target", "lang", "url", "published")
    if articles is not None:
        # `stance ingest` output: validated, one row per article id.
        ids = ids.unionByName(articles.select(F.col("article_id").cast("string")))
        info = articles.select(F.col("article_id").cast("string"), *[
            (F.col(c) if c in articles.columns else F.lit(None)).cast("string").alias(c) for c in info_columns])
    threads = ids.distinct().join(per_article, "article_id", "left")
    if articles is not None:
        threads = threads.join(info, "article_id", "left")
    else:
        threads = threads.select("*", *[F.lit(None).cast("string").alias(c) for c in info_columns])
    # An article only comments name is a placeholder with an empty title (stance-ingest).
    threads = threads.withColumn("title", F.coalesce("title", F.lit("")))
    threads = threads.fillna(0, subset=[k for k in threads.columns if k.startswith("n_")])
    if "reply" in cols:
        ranked = (df.where(F.col("__received_disagree") > 0)
                  .withColumn("__rank", F.row_number().over(Window.partitionBy("article_id").orderBy(
                      F.col("__received_disagree").desc(), F.col("__received").desc(), F.col("comment_id").asc())))
                  .where(F.col("__rank") <= TOP_CONTESTED))
        contested = ranked.groupBy("article_id").agg(
            F.transform(F.array_sort(F.collect_list(F.struct("__rank", "comment_id"))), lambda s: s["comment_id"])
            .alias("most_contested_ids"))
        threads = threads.join(contested, "article_id", "left").withColumn(
            "most_contested_ids", F.coalesce("most_contested_ids", F.array().cast("array<string>")))
    out["threads"] = ordered(threads).orderBy("article_id")

    metrics = group_metrics("authors", cols)
    authors = derived(df.where(F.col("__author").isNotNull()).groupBy(F.col("__author").alias("author"))
                      .agg(*[e.alias(k) for k, e in metrics.items()]), "authors", cols)
    out["authors"] = ordered(authors).orderBy("author")

    metrics = group_metrics("daily", cols)
    daily = derived(df.where(F.col("__day").isNotNull()).groupBy("article_id", F.col("__day").alias("day"))
                    .agg(*[e.alias(k) for k, e in metrics.items()]), "daily", cols)
    out["daily"] = ordered(daily).orderBy("article_id", "day")
    return out


if __name__ == "__main__":
    main()
