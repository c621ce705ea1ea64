"""Packs what the GPU ceiling experiment needs into one folder small enough to travel:
the encoder's Q4_0 blocks (layers whole, the embedding table cut to the token ids the data
uses), and every text tokenized as `stance` does (`query: ` prefix, <s> ... </s>)."""
import json, struct, sys, os, random
import numpy as np
from tokenizers import Tokenizer

SHARED = sys.argv[1]; OUT = sys.argv[2]
os.makedirs(OUT, exist_ok=True)
MODEL = f"{SHARED}/models/multilingual-e5-small-q4"

def read_gguf(path):
    b = open(path, "rb").read()
    off = 0
    def take(fmt):
        nonlocal off
        v = struct.unpack_from("<" + fmt, b, off); off += struct.calcsize("<" + fmt); return v[0]
    def string():
        nonlocal off
        n = take("Q"); s = b[off:off + n].decode("utf-8", "replace"); off += n; return s
    scal = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    def value(t):
        if t in scal: return take(scal[t])
        if t == 8: return string()
        if t == 9:
            et = take("I"); n = take("Q"); return [value(et) for _ in range(n)]
        raise ValueError(t)
    assert b[:4] == b"GGUF"; off = 4
    take("I"); nt = take("Q"); nkv = take("Q")
    kv = {}
    for _ in range(nkv):
        k = string(); kv[k] = value(take("I"))
    infos = []
    for _ in range(nt):
        name = string(); nd = take("I"); dims = [take("Q") for _ in range(nd)]
        infos.append((name, dims, take("I"), take("Q")))
    align = kv.get("general.alignment", 32)
    base = (off + align - 1) // align * align
    out = {}
    for name, dims, t, o in infos:
        n = int(np.prod(dims))
        if t == 0: size = n * 4
        elif t == 1: size = n * 2
        elif t == 2: size = n // 32 * 18
        else: raise ValueError((name, t))
        out[name] = (t, dims[::-1], b[base + o: base + o + size])
    return out

tensors = read_gguf(f"{MODEL}/model.gguf")
tok = Tokenizer.from_file(f"{MODEL}/tokenizer.json")
tok.no_truncation(); tok.no_padding()

def encode(texts, budget):
    encs = tok.encode_batch(["query: " + t for t in texts])
    out = []
    for e in encs:
        ids = e.ids
        if len(ids) > budget: ids = ids[:budget - 1] + [ids[-1]]  # head kept, </s> last
        out.append(ids)
    return out

def load(path, filt=None):
    rows = [json.loads(l) for l in open(path)]
    return [r for r in rows if filt is None or filt(r)]

D = f"{SHARED}/data"
sets = {}
def add(name, rows, pair=True):
    sets[name] = rows
stance_train = {
    "wahlomat": load(f"{D}/stance/wahlomat-de/train.jsonl"),
    "xstance_de": load(f"{D}/stance/xstance/valid.jsonl", lambda r: r["lang"] == "de"),
    "cic": load(f"{D}/stance/cic/train.jsonl"),
    "semeval": load(f"{D}/stance/semeval2016/train.jsonl"),
    "efra": load(f"{D}/stance/efra-macron/train.jsonl"),
    "rit": load(f"{D}/stance/rit-referendum/train.jsonl"),
}
stance_valid = {
    "xstance_fr": load(f"{D}/stance/xstance/valid.jsonl", lambda r: r["lang"] == "fr"),
    "cic": load(f"{D}/stance/cic/valid.jsonl"),
    "semeval": load(f"{D}/stance/semeval2016/valid.jsonl"),
    "wahlomat": load(f"{D}/stance/wahlomat-de/valid.jsonl"),
}
stance_test = {
    "semeval": load(f"{D}/stance/semeval2016/test.jsonl"),
    "cic": load(f"{D}/stance/cic/test.jsonl"),
    "efra": load(f"{D}/stance/efra-macron/test.jsonl"),
    "rit": load(f"{D}/stance/rit-referendum/test.jsonl"),
}
rng = random.Random(13)
for d in (stance_valid,):
    for k in list(d):
        if k != "xstance_fr" and len(d[k]) > 600:
            d[k] = rng.sample(d[k], 600)
sent = {
    "train": load(f"{D}/sentiment/umsab/train.jsonl"),
    "valid": load(f"{D}/sentiment/umsab/valid.jsonl"),
    "test": load(f"{D}/sentiment/umsab/test.jsonl"),
}
STANCE = ["favor", "against", "none"]; SENT = ["negative", "neutral", "positive"]
packed = {}; used = set()
def pack(prefix, rows, labels, pair):
    com = encode([r["text"] for r in rows], 128)
    packed[prefix + ".com"] = np.array([x for ids in com for x in ids], np.int32)
    packed[prefix + ".com_len"] = np.array([len(i) for i in com], np.int32)
    for ids in com: used.update(ids)
    if pair:
        ctx = encode([r["target"] for r in rows], 48)
        packed[prefix + ".ctx"] = np.array([x for ids in ctx for x in ids], np.int32)
        packed[prefix + ".ctx_len"] = np.array([len(i) for i in ctx], np.int32)
        for ids in ctx: used.update(ids)
    packed[prefix + ".label"] = np.array([labels.index(r["label"]) for r in rows], np.int32)
    packed[prefix + ".lang"] = np.array([r.get("lang", "") for r in rows])
for split, d in (("train", stance_train), ("valid", stance_valid), ("test", stance_test)):
    for k, rows in d.items():
        pack(f"stance.{split}.{k}", rows, STANCE, True)
for split, rows in sent.items():
    pack(f"sent.{split}", rows, SENT, False)
used.update([0, 1, 2])
vocab = np.array(sorted(used), np.int64)
remap = np.full(250037, -1, np.int64); remap[vocab] = np.arange(len(vocab))
for k in list(packed):
    if k.endswith(".com") or k.endswith(".ctx"):
        packed[k] = remap[packed[k]].astype(np.uint16)
weights = {}
for name, (t, shape, raw) in tensors.items():
    arr = np.frombuffer(raw, np.uint8)
    if name.endswith("word_embeddings.weight"):
        assert t == 2, t
        rowbytes = shape[1] // 32 * 18
        arr = arr.reshape(shape[0], rowbytes)[vocab]
        shape = [len(vocab), shape[1]]
    weights["w." + name] = arr.copy(); weights["t." + name] = np.array([t] + list(shape), np.int64)
np.savez(f"{OUT}/data.npz", **packed)
weights["vocab"] = vocab
np.savez(f"{OUT}/weights.npz", **weights)
print("vocab", len(vocab), "tensors", len(tensors), {k: v.shape for k, v in list(packed.items())[:3]})
