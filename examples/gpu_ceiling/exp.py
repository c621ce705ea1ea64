"""How far can multilingual-e5-small go on stance and sentiment when fine-tuned deeper than
`stance tune` can afford on 2 cores? A diagnostic in PyTorch on a GPU, not a shipped model:
it maps which layout (late interaction with the top k layers, or the pair read jointly from the
embeddings up) and how much data reach the issue's targets, so that the Rust trainer's next
run is chosen by numbers. Weights: the Q4_0 GGUF dequantized (as the fixtures' reference).

    OUT=/tmp/out python3 exp.py PACK            # every configuration, until BUDGET_S seconds
    ONLY=li6-capped OUT=/tmp/out python3 exp.py PACK
    python3 exp.py PACK --smoke                 # a few rows per set (SMOKE_X=n: n times more)
"""
import json, math, os, random, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PACK = sys.argv[1]
OUT = os.environ.get("OUT", "/tmp/exp-out")
SMOKE = "--smoke" in sys.argv
BUDGET_S = float(os.environ.get("BUDGET_S", "400"))
T0 = time.time()
AUTOCAST = torch.cuda.is_available() or os.environ.get("CPU_AUTOCAST") == "1"
os.makedirs(OUT, exist_ok=True)
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.backends.cuda.matmul.allow_tf32 = True
H, HEADS, FF, EPS = 384, 12, 1536, 1e-12
STANCE = ["favor", "against", "none"]


def log(*a):
    print(f"[{time.time() - T0:6.1f}s]", *a, flush=True)


# ---------------------------------------------------------------- weights
W = np.load(f"{PACK}/weights.npz")


def tensor(name):
    t, *shape = W["t." + name].tolist()
    raw = W["w." + name]
    if t == 0:
        a = raw.view(np.float32)
    elif t == 1:
        a = raw.view(np.float16).astype(np.float32)
    else:  # Q4_0: per 32 values an f16 scale and 16 bytes of nibbles (low nibbles first)
        blk = raw.reshape(-1, 18)
        d = blk[:, :2].copy().view(np.float16).astype(np.float32)
        qs = blk[:, 2:]
        q = np.concatenate([qs & 0xF, qs >> 4], axis=1).astype(np.float32) - 8.0
        a = q * d
    return torch.from_numpy(a.reshape(shape).copy())


class Layer(nn.Module):
    def __init__(self, i):
        super().__init__()
        p = f"encoder.layer.{i}."
        names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
                 "o": "attention.output.dense", "i": "intermediate.dense", "f": "output.dense"}
        for short, n in names.items():
            w = tensor(p + n + ".weight")
            lin = nn.Linear(w.shape[1], w.shape[0])
            lin.weight.data.copy_(w)
            lin.bias.data.copy_(tensor(p + n + ".bias"))
            setattr(self, short, lin)
        self.ln1 = nn.LayerNorm(H, eps=EPS)
        self.ln2 = nn.LayerNorm(H, eps=EPS)
        for ln, n in ((self.ln1, "attention.output.LayerNorm"), (self.ln2, "output.LayerNorm")):
            ln.weight.data.copy_(tensor(p + n + ".weight"))
            ln.bias.data.copy_(tensor(p + n + ".bias"))
        self.drop = nn.Dropout(0.1)

    def forward(self, x, bias):
        b, s, _ = x.shape
        split = lambda t: t.view(b, s, HEADS, H // HEADS).transpose(1, 2)
        a = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)),
                                           attn_mask=bias, dropout_p=0.1 if self.training else 0.0)
        x = self.ln1(x + self.drop(self.o(a.transpose(1, 2).reshape(b, s, H))))
        return self.ln2(x + self.drop(self.f(F.gelu(self.i(x)))))


class Embeddings(nn.Module):
    def __init__(self):
        super().__init__()
        self.word = nn.Parameter(tensor("embeddings.word_embeddings.weight"), requires_grad=False)
        self.pos = nn.Parameter(tensor("embeddings.position_embeddings.weight"), requires_grad=False)
        self.typ = nn.Parameter(tensor("embeddings.token_type_embeddings.weight")[0], requires_grad=False)
        self.ln = nn.LayerNorm(H, eps=EPS)
        self.ln.weight.data.copy_(tensor("embeddings.LayerNorm.weight"))
        self.ln.bias.data.copy_(tensor("embeddings.LayerNorm.bias"))
        self.ln.requires_grad_(False)

    def forward(self, ids, pos):
        return self.ln(self.word[ids] + self.pos[pos] + self.typ)


EMB = Embeddings().to(dev)
BASE_LAYERS = [Layer(i) for i in range(12)]
log("weights loaded")


def mask_bias(valid):  # valid [b, s] bool -> SDPA boolean mask [b, 1, 1, s] (True: attend)
    return valid[:, None, None, :]


# ---------------------------------------------------------------- fixture check
def fixture_check():
    vocab = W["vocab"]
    remap = {int(v): i for i, v in enumerate(vocab)}
    ref = json.load(open(f"{PACK}/ref.json"))
    layers = [l.to(dev).eval() for l in BASE_LAYERS]
    coss = []
    with torch.no_grad():
        for r in ref:
            if r["prefix"] != "query: " or not all(i in remap for i in r["input_ids"]):
                continue
            ids = torch.tensor([[remap[i] for i in r["input_ids"]]], device=dev)
            x = EMB(ids, torch.arange(ids.shape[1], device=dev)[None])
            for l in layers:
                x = l(x, None)
            e = x.mean(1)[0]
            coss.append(F.cosine_similarity(e, torch.tensor(r["embedding"], device=dev), dim=0).item())
    log(f"fixture: {len(coss)} reference texts, min cos {min(coss):.6f}")
    return min(coss)


# ---------------------------------------------------------------- data
D = np.load(f"{PACK}/data.npz")


def rows(prefix):
    def split(key):
        if f"{prefix}.{key}" not in D.files:
            return None
        flat, lens = D[f"{prefix}.{key}"].astype(np.int64), D[f"{prefix}.{key}_len"]
        ends = np.cumsum(lens)
        return [flat[e - n:e] for e, n in zip(ends, lens)]
    com, ctx = split("com"), split("ctx")
    lab = D[f"{prefix}.label"]
    lang = D[f"{prefix}.lang"]
    return [(ctx[i] if ctx else None, com[i], int(lab[i]), str(lang[i])) for i in range(len(com))]


class Model(nn.Module):
    """mode 'li': bottom 12-k layers per text, top k on the concatenation (stance tune's
    layout); mode 'joint': the pair template `<s> ctx </s></s> com </s>` from the embeddings up,
    bottom 12-k layers frozen. Segment-mean pooling of context and comment, then a linear layer."""

    def __init__(self, mode, k, n_labels, pair):
        super().__init__()
        self.mode, self.k, self.pair = mode, k, pair
        self.bottom = [BASE_LAYERS[i].to(dev).eval() for i in range(12 - k)]
        import copy
        self.top = nn.ModuleList([copy.deepcopy(BASE_LAYERS[i]) for i in range(12 - k, 12)]).to(dev)
        self.segment = nn.Parameter(torch.zeros(2, H, device=dev))
        self.drop = nn.Dropout(0.1)
        self.cls = nn.Linear(2 * H if pair else H, n_labels).to(dev)
        nn.init.normal_(self.cls.weight, std=0.02)
        nn.init.zeros_(self.cls.bias)

    def encode_bottom(self, seqs):
        n = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), n), 1, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.from_numpy(s)
        lens = torch.tensor([len(s) for s in seqs])
        valid = (torch.arange(n)[None] < lens[:, None]).to(dev)
        ids = ids.to(dev)
        with torch.no_grad():
            x = EMB(ids, torch.arange(n, device=dev)[None].expand(len(seqs), n))
            bias = mask_bias(valid)
            for l in self.bottom:
                x = l(x, bias)
        return x, lens

    def forward(self, batch):
        if self.mode == "li" and self.pair:
            xc, lc = self.encode_bottom([b[0] for b in batch])
            xt, lt = self.encode_bottom([b[1] for b in batch])
            parts = [(xc[i, :lc[i]], xt[i, :lt[i]]) for i in range(len(batch))]
            seg_len = [(int(lc[i]), int(lt[i])) for i in range(len(batch))]
            s = max(a + b for a, b in seg_len)
            x = torch.zeros(len(batch), s, H, device=dev, dtype=xc.dtype)
            for i, (c, t) in enumerate(parts):
                x[i, :len(c)] = c
                x[i, len(c):len(c) + len(t)] = t
        elif self.mode == "joint" and self.pair:
            seqs = [np.concatenate([b[0], [2], b[1][1:]]) for b in batch]  # <s> c </s></s> t </s>
            x, lens = self.encode_bottom(seqs)
            seg_len = [(len(b[0]), len(b[1])) for b in batch]
            s = x.shape[1]
        else:
            x, lt = self.encode_bottom([b[1] for b in batch])
            seg_len = [(0, int(lt[i])) for i in range(len(batch))]
            s = x.shape[1]
        seg = torch.zeros(len(batch), s, 2, device=dev)
        for i, (a, b) in enumerate(seg_len):
            seg[i, :a, 0] = 1.0
            seg[i, a:a + b, 1] = 1.0
        valid = seg.sum(-1) > 0
        x = x + seg @ self.segment
        bias = mask_bias(valid)
        for l in self.top:
            x = l(x, bias)
        pool = seg / seg.sum(1, keepdim=True).clamp(min=1.0)  # [b, s, 2]
        pooled = torch.einsum("bsk,bsh->bkh", pool, x.float())
        pooled = pooled.reshape(len(batch), 2 * H) if self.pair else pooled[:, 1]
        return self.cls(self.drop(pooled))


def macro_f1(gold, pred, classes):
    f1s = []
    for c in classes:
        tp = sum(1 for g, p in zip(gold, pred) if g == c and p == c)
        fp = sum(1 for g, p in zip(gold, pred) if g != c and p == c)
        fn = sum(1 for g, p in zip(gold, pred) if g == c and p != c)
        f1s.append(0.0 if tp == 0 else 200.0 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s)


def predict(model, data, bs=128):
    model.eval()
    out = []
    order = sorted(range(len(data)), key=lambda i: len(data[i][1]) + (len(data[i][0]) if data[i][0] is not None else 0))
    logits = [None] * len(data)
    with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=AUTOCAST):
        for s in range(0, len(order), bs):
            idx = order[s:s + bs]
            lg = model([data[i] for i in idx]).float().cpu()
            for j, i in enumerate(idx):
                logits[i] = lg[j]
    return torch.stack(logits)


def score_stance(name, data, logits):
    gold = [d[2] for d in data]
    if name.startswith("xstance"):  # favor/against only: the more probable of the two
        pred = logits[:, :2].argmax(1).tolist()
        return macro_f1(gold, pred, [0, 1])
    pred = logits.argmax(1).tolist()
    m = macro_f1(gold, pred, [0, 1, 2])
    if name == "semeval":
        fa = [macro_f1(gold, pred, [c]) for c in (0, 1)]
        return {"macro": m, "f1avg": sum(fa) / 2}
    return m


def score_sent(data, logits):
    pred = logits.argmax(1).tolist()
    by = {}
    for d, p in zip(data, pred):
        by.setdefault(d[3], ([], []))
        by[d[3]][0].append(d[2]); by[d[3]][1].append(p)
    per = {l: macro_f1(g, p, [0, 1, 2]) for l, (g, p) in sorted(by.items())}
    return {"mean": sum(per.values()) / len(per), **per}


def run(cfg, train, valid, test, task):
    random.seed(cfg.get("seed", 13)); torch.manual_seed(cfg.get("seed", 13))
    model = Model(cfg["mode"], cfg["k"], 3, task == "stance")
    enc = [p for p in model.top.parameters()]
    new = [model.segment] + list(model.cls.parameters())
    opt = torch.optim.AdamW([{"params": enc, "lr": cfg["lr"]}, {"params": new, "lr": cfg["head_lr"]}],
                            weight_decay=0.01)
    bs, epochs = cfg.get("bs", 32), cfg["epochs"]
    steps = epochs * math.ceil(len(train) / bs)
    warm = int(0.06 * steps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / (steps - warm)))
    hist = []
    t_start = time.time()
    for ep in range(epochs):
        model.train()
        for l in model.bottom:
            l.eval()
        perm = list(range(len(train)))
        random.shuffle(perm)
        tot, n = 0.0, 0
        for s in range(0, len(perm), bs):
            batch = [train[i] for i in perm[s:s + bs]]
            y = torch.tensor([b[2] for b in batch], device=dev)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=AUTOCAST):
                loss = F.cross_entropy(model(batch).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(enc + new, 1.0)
            opt.step(); sched.step()
            tot += loss.item() * len(batch); n += len(batch)
        rec = {"epoch": ep + 1, "train_loss": round(tot / n, 4), "s": round(time.time() - t_start, 1)}
        if task == "stance":
            rec["valid"] = {k: score_stance(k, v, predict(model, v)) for k, v in valid.items()}
            rec["test"] = {k: score_stance(k, v, predict(model, v)) for k, v in test.items()}
            sel = [rec["valid"][k] for k in ("cic", "wahlomat")] + [rec["valid"]["semeval"]["macro"]]
            rec["select"] = sum(sel) / len(sel)
        else:
            rec["valid"] = score_sent(valid, predict(model, valid))
            rec["test"] = score_sent(test, predict(model, test))
            rec["select"] = rec["valid"]["mean"]
        log(cfg["name"], json.dumps(rec))
        hist.append(rec)
        RESULTS["runs"][cfg["name"]] = {"config": cfg, "n_train": len(train), "epochs": hist}
        json.dump(RESULTS, open(f"{OUT}/results.json", "w"), indent=1)
        if time.time() - T0 > BUDGET_S:
            log("budget reached inside", cfg["name"])
            break
    return hist


RESULTS = {"runs": {}}


def main():
    results = RESULTS
    results |= {"fixture_min_cos": fixture_check(), "device": str(torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu")}
    st_train = {k.split(".")[2]: rows(k.rsplit(".", 1)[0]) for k in D.files if k.startswith("stance.train.") and k.endswith(".label")}
    st_valid = {k.split(".")[2]: rows(k.rsplit(".", 1)[0]) for k in D.files if k.startswith("stance.valid.") and k.endswith(".label")}
    st_test = {k.split(".")[2]: rows(k.rsplit(".", 1)[0]) for k in D.files if k.startswith("stance.test.") and k.endswith(".label")}
    rng = random.Random(13)
    capped = [r for k, v in sorted(st_train.items()) for r in (rng.sample(v, 5000) if len(v) > 5000 else v)]
    full = [r for k, v in sorted(st_train.items()) for r in v]
    qa = st_train["wahlomat"] + st_train["xstance_de"]
    sent = {s: rows(f"sent.{s}") for s in ("train", "valid", "test")}
    if SMOKE:
        cut = lambda v, n=40: v[:n * int(os.environ.get("SMOKE_X", "1"))]
        capped, full, qa = cut(capped, 64), cut(full, 64), cut(qa, 64)
        st_valid = {k: cut(v) for k, v in st_valid.items()}
        st_test = {k: cut(v) for k, v in st_test.items()}
        sent = {k: cut(v, 64) for k, v in sent.items()}
    log("rows: capped", len(capped), "full", len(full), "qa", len(qa), "sentiment train", len(sent["train"]))
    configs = [
        ("stance", capped, dict(name="joint12-capped", mode="joint", k=12, lr=3e-5, head_lr=1e-3, epochs=4)),
        ("stance", capped, dict(name="li3-capped", mode="li", k=3, lr=5e-5, head_lr=1e-3, epochs=4)),
        ("stance", capped, dict(name="li12-capped", mode="li", k=12, lr=3e-5, head_lr=1e-3, epochs=4)),
        ("sent", sent["train"], dict(name="sent-full12", mode="li", k=12, lr=3e-5, head_lr=1e-3, epochs=3)),
        ("stance", full, dict(name="joint12-full", mode="joint", k=12, lr=3e-5, head_lr=1e-3, epochs=3)),
        ("stance", capped, dict(name="li6-capped", mode="li", k=6, lr=5e-5, head_lr=1e-3, epochs=4)),
        ("stance", qa, dict(name="joint12-qa-only", mode="joint", k=12, lr=3e-5, head_lr=1e-3, epochs=3)),
        ("sent", sent["train"], dict(name="sent-li3", mode="li", k=3, lr=5e-5, head_lr=1e-3, epochs=3)),
    ]
    only = os.environ.get("ONLY")
    for task, train, cfg in configs:
        if only and cfg["name"] not in only.split(","):
            continue
        if SMOKE:
            cfg = dict(cfg, epochs=1, k=min(cfg["k"], 2))
        if time.time() - T0 > BUDGET_S:
            log("budget reached; skipped", cfg["name"])
            continue
        if task == "stance":
            h = run(cfg, train, st_valid, st_test, task)
        else:
            h = run(cfg, train, sent["valid"], sent["test"], task)
    log("done")


main()
