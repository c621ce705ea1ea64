"""Experiment 3 of models/EVAL.md, "irony flags on ordinary text": an MLP of the irony head's
shape (PyTorch, not the shipped trainer) on e5 vectors as they are, and on vectors with each
language's mean UMSAB training vector subtracted. Two seeds each.

    python3 examples/irony_flags/center.py prepare ../shared/data DIR     # writes DIR/all.jsonl, DIR/meta.jsonl
    stance embed -q --offline --input DIR/all.jsonl --out DIR/emb.parquet
    python3 examples/irony_flags/center.py run DIR

Splits: TweetEval's own; iSarcasmEval train 85/15 and its test; MultiPICo 70/15/15; by the first
8 hex digits of SHA-256 of the row id, mod 100 (not `stance`'s hashing). Prints validation and
test macro-F1, the test's non-ironic rows flagged, and the share of UMSAB test tweets flagged
per language. Needs torch, numpy and pyarrow.
"""
import collections
import hashlib
import json
import sys

import numpy as np
import pyarrow.parquet as pq
import torch

FILES = {
    "te_tr": "irony/tweeteval-irony/train.jsonl", "te_va": "irony/tweeteval-irony/valid.jsonl",
    "te_te": "irony/tweeteval-irony/test.jsonl", "is_tr": "irony/isarcasmeval/train.jsonl",
    "is_te": "irony/isarcasmeval/test.jsonl", "mp": "irony/multipico/valid.jsonl",
    "um_tr": "sentiment/umsab/train.jsonl", "um_te": "sentiment/umsab/test.jsonl",
}


def prepare(data, out):
    with open(f"{out}/all.jsonl", "w") as texts, open(f"{out}/meta.jsonl", "w") as meta:
        for key, path in FILES.items():
            for i, line in enumerate(open(f"{data}/{path}", encoding="utf-8")):
                row = json.loads(line)
                rid = f"{key}-{i}"
                texts.write(json.dumps({"id": rid, "text": row["text"]}, ensure_ascii=False) + "\n")
                meta.write(json.dumps({"id": rid, "set": key, "label": row["label"], "lang": row.get("lang", "en")}) + "\n")


def run(out):
    t = pq.read_table(f"{out}/emb.parquet")
    ids = t.column("id").to_pylist()
    E = np.array(t.column("embedding").to_pylist(), dtype=np.float32)
    meta = {}
    for line in open(f"{out}/meta.jsonl"):
        d = json.loads(line)
        meta[d["id"]] = d
    idx = {i: k for k, i in enumerate(ids)}
    def h(s): return int(hashlib.sha256(s.encode()).hexdigest()[:8],16)%100
    rows=collections.defaultdict(list)
    for i in ids:
        m=meta[i]; s=m['set']; p=h(i)
        if s=='te_tr': rows['train'].append((i,'te'))
        elif s=='te_va': rows['valid'].append((i,'te'))
        elif s=='te_te': rows['test'].append((i,'te'))
        elif s=='is_tr': rows['train' if p<85 else 'valid'].append((i,'is'))
        elif s=='is_te': rows['test'].append((i,'is'))
        elif s=='mp': rows['train' if p<70 else ('valid' if p<85 else 'test')].append((i,'mp'))
        elif s=='um_tr': rows['um_tr'].append((i,'um'))
        elif s=='um_te': rows['um_te'].append((i,'um'))
    # language means from UMSAB train
    um=[idx[i] for i,_ in rows['um_tr']]
    gmean=E[um].mean(0)
    lmean={}
    for lang in set(meta[i]['lang'] for i,_ in rows['um_tr']):
        sel=[idx[i] for i,_ in rows['um_tr'] if meta[i]['lang']==lang]
        lmean[lang]=E[sel].mean(0)
    def feats(rs, center):
        X=E[[idx[i] for i,_ in rs]].copy()
        if center:
            for k,(i,_) in enumerate(rs):
                X[k]-=lmean.get(meta[i]['lang'],gmean)
        return X
    def labels(rs): return np.array([1 if meta[i]['label']=='ironic' else 0 for i,_ in rs])
    def mf1(y,p):
        f=[]
        for c in (0,1):
            tp=((p==c)&(y==c)).sum(); fp=((p==c)&(y!=c)).sum(); fn=((p!=c)&(y==c)).sum()
            f.append(2*tp/(2*tp+fp+fn) if tp else 0)
        return 100*np.mean(f)
    def experiment(center, seed=13):
        torch.manual_seed(seed); np.random.seed(seed)
        Xtr=feats(rows['train'],center); ytr=labels(rows['train'])
        mu=Xtr.mean(0); sd=Xtr.std(0)+1e-6
        f=lambda X:(X-mu)/sd
        Xtr=torch.tensor(f(Xtr)); Ytr=torch.tensor(ytr)
        Xva=torch.tensor(f(feats(rows['valid'],center))); yva=labels(rows['valid'])
        net=torch.nn.Sequential(torch.nn.Dropout(0.3),torch.nn.Linear(384,1024),torch.nn.GELU(),torch.nn.Dropout(0.6),torch.nn.Linear(1024,2))
        w=torch.tensor([len(ytr)/(2*(ytr==0).sum()), len(ytr)/(2*(ytr==1).sum())],dtype=torch.float32)
        opt=torch.optim.AdamW(net.parameters(),lr=3e-4,weight_decay=0.05)
        srcs_va=[s for _,s in rows['valid']]
        best=(-1,None)
        for ep in range(40):
            net.train(); perm=torch.randperm(len(Ytr))
            for b in range(0,len(perm),64):
                j=perm[b:b+64]; loss=torch.nn.functional.cross_entropy(net(Xtr[j]),Ytr[j],weight=w); opt.zero_grad(); loss.backward(); opt.step()
            net.eval()
            with torch.no_grad(): pva=net(Xva).argmax(1).numpy()
            sc=np.mean([mf1(yva[[k for k,s in enumerate(srcs_va) if s==src]], pva[[k for k,s in enumerate(srcs_va) if s==src]]) for src in ('te','is','mp')])
            if sc>best[0]: best=(sc,{k:v.clone() for k,v in net.state_dict().items()},ep)
        net.load_state_dict(best[1]); net.eval()
        def prob(rs):
            with torch.no_grad(): return torch.softmax(net(torch.tensor(f(feats(rs,center)))),1)[:,1].numpy()
        # threshold: best overall macro-F1 on valid
        pv=prob(rows['valid'])
        th=max(np.arange(0.05,0.96,0.01), key=lambda t:(mf1(yva,(pv>=t).astype(int)), -abs(t-0.5)))
        out={'valid':best[0],'epoch':best[2],'th':th}
        pt=prob(rows['test']); yt=labels(rows['test'])
        for src in ('te','is','mp'):
            sel=[k for k,(i,s) in enumerate(rows['test']) if s==src]
            out['test_'+src]=mf1(yt[sel],(pt[sel]>=th).astype(int))
            out['fp_'+src]=100*((pt[sel]>=th)&(yt[sel]==0)).sum()/(yt[sel]==0).sum()
        # mp per lang
        per={}
        for k,(i,s) in enumerate(rows['test']):
            if s=='mp': per.setdefault(meta[i]['lang'],[]).append(k)
        out['mp_lang']={l:round(mf1(yt[v],(pt[v]>=th).astype(int)),1) for l,v in sorted(per.items())}
        pu=prob(rows['um_te'])
        fl={}
        for k,(i,_) in enumerate(rows['um_te']): fl.setdefault(meta[i]['lang'],[]).append(pu[k]>=th)
        out['umsab_flag']={l:round(100*np.mean(v)) for l,v in sorted(fl.items())}
        return out
    for center in (False, True):
        for seed in (13, 14):
            r = experiment(center, seed)
            print("centred" if center else "plain  ", seed, {k: (round(float(v), 2) if isinstance(v, (float, np.floating)) else v) for k, v in r.items()})


if __name__ == "__main__":
    {"prepare": lambda a: prepare(*a), "run": lambda a: run(*a)}[sys.argv[1]](sys.argv[2:])
