"""A stand-in for the hub's full-precision multilingual-e5-small, built from the 4-bit GGUF:
models/EVAL.md, "the heads on full-precision e5 weights (simulated)".

The GGUF's Q4_0 weights are the hub's f32 ones rounded to a grid: per block of 32 weights a scale
d, and each weight w = (q - 8) * d with q in 0..15. The hub weight x behind a stored w lies within
half a grid step of it, |x - w| <= |d| / 2 (the block's largest magnitude is stored exactly). With
no hub access here, this writes a model whose weights are the stored ones plus that rounding
error drawn afresh, uniform in [-|d|/2, |d|/2]: as far from the GGUF as the hub's weights are, in
the same way. Scoring the shipped heads on a few such draws shows how much their scores can move
when a user runs them on the hub's weights (`--model intfloat/multilingual-e5-small`).

    python3 examples/hub_weights/simulate.py ../shared/models/multilingual-e5-small-q4 OUT SEED

OUT gets model.safetensors (f32, Hugging Face BERT names), config.json and tokenizer.json. Needs
gguf, numpy and safetensors (the peers' venv of ../shared/bench-peers has them).
"""
import shutil
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader
from gguf.quants import dequantize
from safetensors.numpy import save_file

BLOCK = 32  # weights per Q4_0 block
BLOCK_BYTES = 18  # an f16 scale, then 16 bytes of 4-bit codes


def with_rounding_error(tensor, rng):
    """The tensor's stored values, plus a fresh draw of Q4_0's rounding error where it is Q4_0."""
    values = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
    shape = [int(x) for x in reversed(tensor.shape.tolist())]
    values = values.reshape(-1, BLOCK) if tensor.tensor_type == GGMLQuantizationType.Q4_0 else values
    if tensor.tensor_type == GGMLQuantizationType.Q4_0:
        raw = np.asarray(tensor.data, dtype=np.uint8).reshape(-1, BLOCK_BYTES)
        step = np.abs(raw[:, :2].copy().view(np.float16).astype(np.float32))  # |d| per block, [blocks, 1]
        noise = rng.uniform(-0.5, 0.5, size=values.shape).astype(np.float32) * step
        # The block's largest magnitude is stored exactly (it sets d): no error there.
        exact = np.abs(values) >= 8 * step * (1 - 1e-6)
        values = values + np.where(exact, 0.0, noise)
    return np.ascontiguousarray(values.reshape(shape))


def main(src, dst, seed):
    rng = np.random.default_rng(int(seed))
    reader = GGUFReader(f"{src}/model.gguf")
    tensors = {t.name: with_rounding_error(t, rng) for t in reader.tensors}
    save_file(tensors, f"{dst}/model.safetensors")
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(f"{src}/{name}", f"{dst}/{name}")
    quantized = sum(t.tensor_type == GGMLQuantizationType.Q4_0 for t in reader.tensors)
    print(f"{dst}: {len(tensors)} tensors, {quantized} of them Q4_0 with a fresh rounding error (seed {seed})")


if __name__ == "__main__":
    main(*sys.argv[1:4])
