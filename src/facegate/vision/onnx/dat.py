"""Reading a network that ``dlib::serialize(net, out)`` wrote (a ``.dat`` file), no dlib needed.

dlib writes a network recursively, outermost layer first: every ``add_layer`` writes its
version (int 2; the one holding the input layer: int 3) and then its sub-network, so the file
opens with one version per layer from the top down (``add_tag_layer`` and ``add_skip_layer``
write int 1 and nothing else: the tag's number is not in the file). Then come, from the input
layer up, each layer's details (a version string such as ``con_4`` and its fields) followed by
the ``add_layer``'s own state (three bools and three, for the input layer four, tensors left
empty by ``net.clean()``). The loss layer comes first of all: its version, its name, its fields.

The encodings (``dlib/serialize.h``, ``dlib/dnn/tensor.h``): an integer is one byte holding its
length in bytes (0x80 set when negative) and then that many little-endian bytes; a string is
its length (an integer) and its bytes; a bool is one byte; a float is a mantissa and a binary
exponent (two integers); a tensor is version 2, num_samples, k, nr, nc and then its values as
little-endian IEEE float32; an alias tensor is version 1 and its four dimensions.

The reader returns the layers bottom-up (:class:`DatNetwork`); which network they make is
checked against a known architecture by :mod:`facegate.vision.onnx.resnet`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Wrapper versions in the opening run: an add_layer, a tag or skip, the input layer's add_layer.
LAYER, TAG_OR_SKIP, INPUT = 2, 1, 3


class DatFormatError(ValueError):
    """The file is not a dlib network serialization this reader understands."""


@dataclass
class Layer:
    """One layer's details as dlib wrote them: its kind (the version string without the
    version digit, e.g. ``con``), the version string itself, its fields and its parameters."""

    kind: str
    version: str
    fields: dict[str, int | float | tuple[int, ...]] = field(default_factory=dict)
    params: np.ndarray | None = None

    def integer(self, name: str) -> int:
        value = self.fields[name]
        if not isinstance(value, int):
            raise DatFormatError(f"{self.version}: {name} is {value!r}, not an integer")
        return value

    def real(self, name: str) -> float:
        value = self.fields[name]
        if isinstance(value, tuple):
            raise DatFormatError(f"{self.version}: {name} is {value!r}, not a number")
        return float(value)

    def dims(self, name: str) -> tuple[int, ...]:
        value = self.fields[name]
        if not isinstance(value, tuple):
            raise DatFormatError(f"{self.version}: {name} is {value!r}, not a shape")
        return value

    def values(self) -> np.ndarray:
        """The parameters, flat (empty for a layer without any)."""
        return np.empty(0, np.float32) if self.params is None else self.params.reshape(-1)


@dataclass
class DatNetwork:
    """A dlib network: the loss layer, the wrapper versions top-down and the layers bottom-up."""

    loss: Layer
    wrappers: list[int]
    layers: list[Layer]  # the input layer first


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DatFormatError(f"the file ends early (at byte {self.pos}, {n} more wanted)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        head = self._take(1)[0]
        size = head & 0x0F
        if size > 8 or head & 0x70:
            raise DatFormatError(f"not a dlib integer at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if head & 0x80 else value

    def string(self) -> str:
        size = self.integer()
        if not 0 <= size <= 1024:
            raise DatFormatError(f"implausible string length {size} at byte {self.pos}")
        return self._take(size).decode("ascii", errors="strict")

    def boolean(self) -> bool:
        return self._take(1)[0] != 0

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        if abs(exponent) >= 32000:  # dlib's codes for infinities and NaN
            raise DatFormatError(f"a non-finite float at byte {self.pos}")
        return float(np.ldexp(float(mantissa), exponent))

    def tensor(self) -> np.ndarray:
        version = self.integer()
        if version != 2:
            raise DatFormatError(f"unexpected tensor version {version} at byte {self.pos}")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        if any(d < 0 for d in shape) or count * 4 > len(self.data) - self.pos:
            raise DatFormatError(f"implausible tensor shape {shape} at byte {self.pos}")
        values = np.frombuffer(self._take(count * 4), dtype="<f4").astype(np.float32)
        return values.reshape(shape)

    def alias(self) -> tuple[int, ...]:
        version = self.integer()
        if version != 1:
            raise DatFormatError(f"unexpected alias tensor version {version} at byte {self.pos}")
        return tuple(self.integer() for _ in range(4))


def _details(r: _Reader) -> Layer:
    """One layer's details, for the layer kinds and versions the face networks use."""
    version = r.string()
    if version == "con_4" or version == "con_5":
        params = r.tensor()
        f: dict[str, int | float | tuple[int, ...]] = {
            "num_filters": r.integer(),
            "nr": r.integer(),
            "nc": r.integer(),
            "stride_y": r.integer(),
            "stride_x": r.integer(),
            "padding_y": r.integer(),
            "padding_x": r.integer(),
            "filters": r.alias(),
            "biases": r.alias(),
        }
        for name in ("lr_mult", "wd_mult", "bias_lr_mult", "bias_wd_mult"):
            f[name] = r.real()
        f["use_bias"] = int(r.boolean()) if version == "con_5" else 1
        return Layer("con", version, f, params)
    if version == "affine_":
        params = r.tensor()
        f = {"gamma": r.alias(), "beta": r.alias(), "mode": r.integer()}
        return Layer("affine", version, f, params)
    if version == "relu_":
        return Layer("relu", version)
    if version in ("max_pool_2", "avg_pool_2"):
        f = {
            name: r.integer()
            for name in ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")
        }
        return Layer(version[:-2], version, f)
    if version == "add_prev_":
        return Layer("add_prev", version)
    if version in ("fc_", "fc_2"):
        f = {"num_outputs": r.integer(), "num_inputs": r.integer()}
        params = r.tensor()
        f["weights"] = r.alias()
        f["biases"] = r.alias()
        f["bias_mode"] = r.integer()
        if version == "fc_2":
            for name in ("lr_mult", "wd_mult", "bias_lr_mult", "bias_wd_mult"):
                f[name] = r.real()
        return Layer("fc", version, f, params)
    raise DatFormatError(f"unsupported dlib layer {version!r} at byte {r.pos}")


def _input_layer(r: _Reader) -> Layer:
    version = r.string()
    if version != "input_rgb_image_sized":
        raise DatFormatError(f"unsupported dlib input layer {version!r}")
    f: dict[str, int | float | tuple[int, ...]] = {
        "avg_red": r.real(),
        "avg_green": r.real(),
        "avg_blue": r.real(),
        "nr": r.integer(),
        "nc": r.integer(),
    }
    return Layer("input_rgb_image_sized", version, f)


def _layer_state(r: _Reader, tensors: int) -> None:
    """An add_layer's own state after its details: bools, then tensors that must be empty."""
    for _ in range(3):
        r.boolean()
    for _ in range(tensors):
        if r.tensor().size:
            raise DatFormatError("the network was saved with state (call net.clean() first)")


def read_network(data: bytes) -> DatNetwork:
    """Parse a whole ``dlib::serialize(net)`` output of a ``loss_metric`` network."""
    r = _Reader(data)
    if r.integer() != 1:
        raise DatFormatError("not a dlib network: the loss layer's version is not 1")
    name = r.string()
    if name != "loss_metric_2":
        raise DatFormatError(f"unsupported dlib loss layer {name!r}")
    loss = Layer("loss_metric", name, {"margin": r.real(), "distance_threshold": r.real()})
    wrappers: list[int] = []
    while True:
        version = r.integer()
        if version not in (LAYER, TAG_OR_SKIP, INPUT):
            raise DatFormatError(f"unexpected layer version {version} at byte {r.pos}")
        wrappers.append(version)
        if version == INPUT:
            break
        if len(wrappers) > 10_000:
            raise DatFormatError("no input layer found")
    layers = [_input_layer(r)]
    layers.append(_details(r))
    _layer_state(r, tensors=3)
    r.integer()  # the input add_layer's sample expansion factor (version 3)
    for _ in range(wrappers.count(LAYER)):
        layers.append(_details(r))
        _layer_state(r, tensors=3)
    if r.pos != len(data):
        raise DatFormatError(f"{len(data) - r.pos} bytes left over after the network")
    for layer in layers:
        _check_params(layer)
    return DatNetwork(loss=loss, wrappers=wrappers, layers=layers)


def _check_params(layer: Layer) -> None:
    """The parameter tensor holds exactly what the layer's aliases describe."""

    def size(name: str) -> int:
        return int(np.prod(layer.dims(name)))

    if layer.kind == "con":
        want = size("filters") + (size("biases") if layer.integer("use_bias") else 0)
    elif layer.kind == "affine":
        want = size("gamma") + size("beta")
    elif layer.kind == "fc":
        want = size("weights") + (size("biases") if layer.integer("bias_mode") == 0 else 0)
    else:
        return
    if layer.values().size != want:
        raise DatFormatError(
            f"{layer.version}: {layer.values().size} parameters, its aliases describe {want}"
        )


def load_network(path: Path) -> DatNetwork:
    """Read a ``.dat`` file (uncompressed, as ``face_recognition_models`` ships them)."""
    data = path.read_bytes()
    if data[:3] == b"BZh":
        raise DatFormatError(f"{path} is bzip2-compressed; decompress it first")
    return read_network(data)
