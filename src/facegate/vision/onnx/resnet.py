"""dlib's face recognition ResNet as an ONNX graph, built from the weights of its ``.dat`` file.

The network (dlib's ``dnn_face_recognition_ex.cpp``, the model ``face_recognition_models``
ships) is, input first: ``input_rgb_image_sized<150>``, ``con<32,7,7,2,2>``, ``affine``,
``relu``, ``max_pool<3,3,2,2>``, three residual blocks of 32 filters, a down block and three
blocks of 64, a down block and two blocks of 128, a down block and two of 256, a down block of
256, ``avg_pool_everything`` and ``fc_no_bias<128>``. A block is ``con 3x3, affine, relu, con
3x3, affine`` (the first con strided in a down block); a residual block adds its input to that
and applies relu; a down block adds its input average-pooled 2x2 with stride 2 (``add_prev2``
over ``avg_pool`` over ``skip1`` over ``tag2``).

What the graph reproduces of dlib's arithmetic:

- the input: ``(value - channel mean) / 256`` per RGB channel, the means read from the file;
- ``con`` with the padding the file records (dlib's default: ``size/2`` at stride 1, none at
  stride 2), cross-correlation with OIHW filters and a bias;
- ``affine`` in convolution mode: ``x * gamma[k] + beta[k]``;
- pooling without padding, output ``1 + (in - window) / stride`` (floor), as ONNX's;
- ``add_prev`` of tensors of different shapes (a down block whose input has fewer channels or,
  at 8 -> 3 and 4 -> 1 rows, more rows than its output): dlib's ``tt::add`` makes the output
  the largest of both in every dimension and reads missing elements as zero, so the smaller
  operand is zero-padded at the end of each dimension;
- ``fc_no_bias``: ``x (n x 256) @ W (256 x 128)``, W as the file stores it.

The graph's input is a batch of chips as dlib produces them: uint8, (n, 150, 150, 3), RGB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from facegate.vision.onnx import INPUT_NAME, OUTPUT_NAME
from facegate.vision.onnx.dat import INPUT, LAYER, TAG_OR_SKIP, DatFormatError, DatNetwork, Layer

OPSET = 17
IR_VERSION = 8  # what onnxruntime has read since 1.10


@dataclass(frozen=True)
class Op:
    """One step of the architecture, input first: a layer (checked against the file's details)
    or a tag, skip or add_prev with its tag number."""

    kind: str
    filters: int = 0
    size: int = 0
    stride: int = 1
    tag: int = 0


def _block(filters: int, stride: int) -> list[Op]:
    return [
        Op("con", filters, 3, stride),
        Op("affine"),
        Op("relu"),
        Op("con", filters, 3, 1),
        Op("affine"),
    ]


def _residual(filters: int) -> list[Op]:
    return [Op("tag", tag=1), *_block(filters, 1), Op("add_prev", tag=1), Op("relu")]


def _residual_down(filters: int) -> list[Op]:
    return [
        Op("tag", tag=1),
        *_block(filters, 2),
        Op("tag", tag=2),
        Op("skip", tag=1),
        Op("avg_pool", size=2, stride=2),
        Op("add_prev", tag=2),
        Op("relu"),
    ]


def face_resnet_v1() -> list[Op]:
    """``anet_type`` of dnn_face_recognition_ex.cpp, input first."""
    ops = [Op("con", 32, 7, 2), Op("affine"), Op("relu"), Op("max_pool", size=3, stride=2)]
    ops += _residual(32) * 3  # alevel4
    ops += _residual_down(64) + _residual(64) * 3  # alevel3
    ops += _residual_down(128) + _residual(128) * 2  # alevel2
    ops += _residual_down(256) + _residual(256) * 2  # alevel1
    ops += _residual_down(256)  # alevel0
    ops += [Op("avg_pool", size=0, stride=1), Op("fc", filters=128)]
    return ops


def match_architecture(net: DatNetwork, ops: list[Op]) -> list[tuple[Op, Layer | None]]:
    """Pair every step with the file's layer; raise DatFormatError where they disagree."""
    # Top-down, one version per layer; the lowest layer's add_layer holds the input layer.
    expected = [TAG_OR_SKIP if op.kind in ("tag", "skip") else LAYER for op in reversed(ops)]
    if not ops or ops[0].kind in ("tag", "skip") or net.wrappers != [*expected[:-1], INPUT]:
        raise DatFormatError("the file's layer structure is not dlib's face recognition ResNet")
    layers = iter(net.layers[1:])
    paired: list[tuple[Op, Layer | None]] = []
    for op in ops:
        if op.kind in ("tag", "skip"):
            paired.append((op, None))
            continue
        layer = next(layers)
        if layer.kind != op.kind or not _agrees(op, layer):
            raise DatFormatError(f"layer {layer.version} {layer.fields} where {op} was expected")
        paired.append((op, layer))
    return paired


def _agrees(op: Op, layer: Layer) -> bool:
    """The layer's recorded geometry is the step's."""
    if op.kind == "con":
        found = [layer.integer(n) for n in ("num_filters", "nr", "nc", "stride_y", "stride_x")]
        return found == [op.filters, op.size, op.size, op.stride, op.stride]
    if op.kind in ("max_pool", "avg_pool"):
        found = [layer.integer(n) for n in ("nr", "nc", "stride_y", "stride_x")]
        padding = [layer.integer("padding_y"), layer.integer("padding_x")]
        return found == [op.size, op.size, op.stride, op.stride] and padding == [0, 0]
    if op.kind == "affine":
        return layer.integer("mode") == 0  # CONV_MODE: one gamma and beta per channel
    if op.kind == "fc":
        return layer.integer("num_outputs") == op.filters and layer.integer("bias_mode") == 1
    return True


class _Graph:
    """Nodes and initializers, with the static (channels, rows, columns) of every tensor."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.shapes: dict[str, tuple[int, int, int]] = {}
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, stem: str, value: np.ndarray) -> str:
        name = self.name(stem)
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], shape: tuple[int, int, int], **attrs: Any) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        self.shapes[out] = shape
        return out

    def pad_to(self, x: str, shape: tuple[int, int, int]) -> str:
        """Zero-pad ``x`` at the end of channels, rows and columns up to ``shape``."""
        have = self.shapes[x]
        extra = [want - got for want, got in zip(shape, have, strict=True)]
        if not any(extra):
            return x
        pads = np.array([0, 0, 0, 0, 0, *extra], dtype=np.int64)
        return self.node("Pad", [x, self.const("pads", pads)], shape, mode="constant")


def build_model(net: DatNetwork) -> onnx.ModelProto:
    """The ONNX model of ``net`` (checked to be the face recognition ResNet)."""
    paired = match_architecture(net, face_resnet_v1())
    source = net.layers[0]
    rows, cols = source.integer("nr"), source.integer("nc")
    g = _Graph()
    means = np.array([source.real(f"avg_{c}") for c in ("red", "green", "blue")], np.float32)
    # dlib: (value - mean) / 256 in float, exact (a power of two) as a product by 1/256.
    pixels = (3, rows, cols)
    nhwc = g.node("Cast", [INPUT_NAME], pixels, to=TensorProto.FLOAT)
    centred = g.node("Sub", [nhwc, g.const("means", means)], pixels)
    scaled = g.node("Mul", [centred, g.const("scale", np.array(1 / 256, np.float32))], pixels)
    x = g.node("Transpose", [scaled], pixels, perm=[0, 3, 1, 2])
    tags: dict[int, str] = {}
    for op, layer in paired:
        c, h, w = g.shapes[x]
        if op.kind == "tag":
            tags[op.tag] = x
        elif op.kind == "skip":
            x = tags[op.tag]
        elif op.kind == "add_prev":
            other = tags[op.tag]
            (c2, h2, w2) = g.shapes[other]
            shape = (max(c, c2), max(h, h2), max(w, w2))
            x = g.node("Add", [g.pad_to(x, shape), g.pad_to(other, shape)], shape)
        elif op.kind == "relu":
            x = g.node("Relu", [x], (c, h, w))
        else:
            assert layer is not None
            x = _layer(g, x, layer)
    g.nodes.append(helper.make_node("Identity", [x], [OUTPUT_NAME], name=OUTPUT_NAME))
    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["n", rows, cols, 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["n", g.shapes[x][0]])],
        g.inits,
    )
    model = helper.make_model(
        graph,
        producer_name="facegate",
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(model)
    return model


def _layer(g: _Graph, x: str, layer: Layer) -> str:
    c, h, w = g.shapes[x]
    params = layer.values()
    if layer.kind == "con":
        n, k, r, s = layer.dims("filters")
        if k != c:
            raise DatFormatError(f"con: {k} input channels, the tensor before has {c}")
        weights = params[: n * k * r * s].reshape(n, k, r, s)
        py, px = layer.integer("padding_y"), layer.integer("padding_x")
        sy, sx = layer.integer("stride_y"), layer.integer("stride_x")
        out = (n, 1 + (h + 2 * py - r) // sy, 1 + (w + 2 * px - s) // sx)
        inputs = [x, g.const("filters", weights)]
        if layer.integer("use_bias"):
            inputs.append(g.const("biases", params[n * k * r * s :].copy()))
        return g.node(
            "Conv", inputs, out, kernel_shape=[r, s], strides=[sy, sx], pads=[py, px, py, px]
        )
    if layer.kind == "affine":
        k = layer.dims("gamma")[1]
        if k != c:
            raise DatFormatError(f"affine: {k} channels, the tensor before has {c}")
        gamma = params[:k].reshape(1, k, 1, 1)
        beta = params[k:].reshape(1, k, 1, 1)
        scaled = g.node("Mul", [x, g.const("gamma", gamma)], (c, h, w))
        return g.node("Add", [scaled, g.const("beta", beta)], (c, h, w))
    if layer.kind in ("max_pool", "avg_pool"):
        size, stride = layer.integer("nr"), layer.integer("stride_y")
        if size == 0:  # avg_pool_everything
            return g.node("GlobalAveragePool", [x], (c, 1, 1))
        out = (c, 1 + (h - size) // stride, 1 + (w - size) // stride)
        op = "MaxPool" if layer.kind == "max_pool" else "AveragePool"
        return g.node(op, [x], out, kernel_shape=[size, size], strides=[stride, stride])
    if layer.kind == "fc":
        n_in, n_out = layer.dims("weights")[:2]
        if n_in != c * h * w:
            raise DatFormatError(f"fc: {n_in} inputs, the tensor before has {c * h * w}")
        flat = g.node("Flatten", [x], (c * h * w, 1, 1), axis=1)
        matrix = params.reshape(n_in, n_out)
        return g.node("MatMul", [flat, g.const("weights", matrix)], (n_out, 1, 1))
    raise DatFormatError(f"no ONNX translation for dlib layer {layer.version}")
