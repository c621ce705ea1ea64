"""models/EVAL.md, "stance carried down reply chains": would a reply's stance toward the thread's
source be read better through its parent (agreeing with a parent that is against, a reply is
against too) than from the reply and the source alone?

    python3 examples/thread_propagation.py prep ../shared/data/reply-stance/dast/all.jsonl \
        ../shared/data/reply-stance/dast/threads.jsonl OUT 70-85        # or no part: every thread
    stance classify --offline -q --tasks stance,reply --articles OUT/articles.jsonl --out OUT/out OUT/comments.jsonl
    python3 examples/thread_propagation.py score OUT [OUT ...]

`prep` writes the thread sources as articles (their text is the stance target) and, for each
thread, the source again as a top-level comment that every direct reply answers, so that the
reply model reads (source, direct reply) too. `score` prints macro-F1 over favor/against/none of
the labelled posts (SDQC toward the source: support is favor, deny against), first the stance
model's own labels, then two ways of carrying stance down a chain, at weights w of the carried
estimate against the direct one (argmax over the mixed probabilities with the stance blend's
class offsets added):

- full: carried favor = p_agree · parent's favor + p_disagree · parent's against, likewise for
  against, the rest none; the source is favor toward itself;
- side only: the direct model's probability of none is kept, and only the split between favor
  and against moves toward the carried one, by w · (p_agree + p_disagree) · (the parent's
  favor + against).

Parts are taken as `stance eval` takes `#by=thread_id,part=START-END`. Needs pyarrow
(examples/spark/requirements.txt installs it).
"""
import hashlib
import json
import math
import sys
from collections import defaultdict

LABELS = ["favor", "against", "none"]
SDQC = {"support": "favor", "deny": "against", "query": "none", "comment": "none"}
# The default stance blend's class offsets on log-probabilities (models/blends/stance/blend.json).
OFFSETS = {"favor": -0.033, "against": 0.067, "none": -0.033}
WEIGHTS = [0.0, 0.25, 0.5, 0.75, 1.0]


def read_jsonl(path):
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


def select(rows, by, start, end):
    """The rows whose group (by `by`, groups ordered by SHA-256) starts in [start, end) percent."""
    groups = defaultdict(list)
    for i, row in enumerate(rows):
        key = str(row[by])
        groups[(hashlib.sha256(key.encode()).digest(), key)].append(i)
    keep, before = set(), 0
    for key in sorted(groups):
        if start <= 100.0 * before / max(len(rows), 1) < end:
            keep.update(groups[key])
        before += len(groups[key])
    return [row for i, row in enumerate(rows) if i in keep]


def source_text(thread):
    title, text = (thread.get("title") or "").strip(), (thread.get("text") or "").strip()
    return f"{title}\n{text}" if title and text else title or text


def prep(path, threads_path, out, part=None):
    rows = read_jsonl(path)
    if part:
        start, end = map(float, part.split("-"))
        rows = select(rows, "thread_id", start, end)
    sources = {t["thread_id"]: source_text(t) for t in read_jsonl(threads_path)}
    ids = {row["id"] for row in rows}
    articles, comments, gold = {}, [], {}
    for row in rows:
        thread = row["thread_id"]
        if row["id"] == thread or thread not in sources:
            continue
        if thread not in articles:
            articles[thread] = {"article_id": thread, "title": sources[thread]}
            comments.append({"comment_id": f"SRC_{thread}", "article_id": thread, "parent_id": None,
                             "text": sources[thread]})
        parent = row.get("parent_id")
        if parent is None or parent == thread or parent not in ids:
            parent = f"SRC_{thread}"
        comments.append({"comment_id": row["id"], "article_id": thread, "parent_id": parent,
                         "text": row["text"]})
        gold[row["id"]] = SDQC[row["label"]]
    for name, records in [("articles", articles.values()), ("comments", comments)]:
        with open(f"{out}/{name}.jsonl", "w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
    with open(f"{out}/gold.json", "w") as f:
        json.dump(gold, f)
    print(f"{out}: {len(articles)} threads, {len(gold)} labelled posts")


def macro_f1(gold, pred):
    scores = []
    for label in LABELS:
        tp = sum(g == label and p == label for g, p in zip(gold, pred))
        wrong = sum((g == label) != (p == label) for g, p in zip(gold, pred))
        scores.append(2 * tp / (2 * tp + wrong) if tp else 0.0)
    return 100 * sum(scores) / len(scores)


def decide(probs):
    return max(LABELS, key=lambda l: math.log(max(probs[LABELS.index(l)], 1e-9)) + OFFSETS[l])


def carried(posts, w, side_only):
    """A function giving each post's stance toward its source, carried down at weight w."""
    memo = {}

    def stance(cid):
        if cid not in memo:
            memo[cid] = mix(cid)
        return memo[cid]

    def mix(cid):
        if cid.startswith("SRC_"):
            return [1.0, 0.0, 0.0]
        post = posts[cid]
        direct = [post["p_favor"], post["p_against"], post["p_none"]]
        if post["p_agree"] is None or post["parent_id"] not in posts:
            return direct
        parent = stance(post["parent_id"])
        agree, disagree = post["p_agree"], post["p_disagree"]
        favor = agree * parent[0] + disagree * parent[1]
        against = agree * parent[1] + disagree * parent[0]
        if not side_only:
            return [(1 - w) * d + w * c for d, c in zip(direct, [favor, against, 1 - favor - against])]
        polar = direct[0] + direct[1]
        share = direct[0] / polar if polar > 0 else 0.5
        carried_share = favor / (favor + against) if favor + against > 1e-9 else 0.5
        weight = w * (agree + disagree) * (parent[0] + parent[1])
        mixed = (1 - weight) * share + weight * carried_share
        return [polar * mixed, polar * (1 - mixed), direct[2]]

    return stance


def score(out):
    import pyarrow.parquet as pq

    posts = {row["comment_id"]: row for row in pq.read_table(f"{out}/out/comments.parquet").to_pylist()}
    gold = json.load(open(f"{out}/gold.json"))
    ids = [i for i in gold if i in posts]  # posts classify rejected (blank text) are left out
    truth = [gold[i] for i in ids]
    own = macro_f1(truth, [posts[i]["stance"] for i in ids])
    print(f"{out}: {len(ids)} posts; the stance model's own labels {own:.2f}")
    for side_only in [False, True]:
        cells = []
        for w in WEIGHTS:
            stance = carried(posts, w, side_only)
            cells.append(f"w {w}: {macro_f1(truth, [decide(stance(i)) for i in ids]):.2f}")
        print(f"  {'side only' if side_only else 'full':9}  " + "  ".join(cells))


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "prep":
        prep(*sys.argv[2:6])
    elif len(sys.argv) >= 3 and sys.argv[1] == "score":
        for out in sys.argv[2:]:
            score(out)
    else:
        sys.exit(__doc__)
