"""models/EVAL.md, "sentiment and irony on the toxicity model's layers": writes an encoder folder
whose bottom layers are the default encoder's (dequantized from its GGUF) and whose top layers
are a fine-tuned cross-encoder's (`stance tune`), so that `stance train --model OUT` trains a
head on the fine-tuned layers' vectors: the cheap test of whether one fine-tuned tone model
could serve the other tone tasks too. An experiment's tool, not a shipped path: the folder is
f32 (470 MB) and pools as e5 does (mean over all tokens), not as the cross-encoder does.

    python3 examples/shared_tone_layers/export.py ../shared/models/multilingual-e5-small-q4 \
        models/tuned/toxicity-top6 OUT

Needs numpy, safetensors and gguf (pip install numpy safetensors gguf).
"""
import json
import os
import shutil
import sys

import gguf
import numpy as np
from gguf import quants
from safetensors import safe_open
from safetensors.numpy import save_file

COPIED = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]


def main(encoder, tuned, out):
    os.makedirs(out, exist_ok=True)
    tensors = {}
    for t in gguf.GGUFReader(os.path.join(encoder, "model.gguf")).tensors:
        shape = tuple(int(d) for d in reversed(t.shape))
        tensors[t.name] = quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
    bottom = json.load(open(os.path.join(tuned, "cross_encoder.json")))["bottom_layers"]
    replaced = 0
    with safe_open(os.path.join(tuned, "cross_encoder.safetensors"), "np") as layers:
        for key in layers.keys():
            if not key.startswith("layer."):
                continue  # segment embedding, classifier, standardisation: not encoder weights
            _, index, rest = key.split(".", 2)
            name = f"encoder.layer.{bottom + int(index)}.{rest}"
            value = layers.get_tensor(key).astype(np.float32)
            if tensors.get(name) is None or tensors[name].shape != value.shape:
                sys.exit(f"{key}: no encoder tensor {name} of shape {value.shape}")
            tensors[name] = value
            replaced += 1
    save_file(tensors, os.path.join(out, "model.safetensors"))
    for name in COPIED:
        shutil.copy(os.path.join(encoder, name), out)
    print(f"{replaced} tensors of layers {bottom} and up replaced; wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:4])
