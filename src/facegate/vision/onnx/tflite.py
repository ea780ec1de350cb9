"""BlazeFace's ``.tflite`` networks as ONNX models, converted by the ``tflite2onnx`` package.

``tflite2onnx`` (Apache-2.0) reads the flatbuffer with the ``tflite`` package and writes an
ONNX model (opset 11, IR 6) whose input is NCHW, ``[1, 3, H, W]``, as the blob that
``vision/blazeface.py`` builds; its outputs keep the ``.tflite`` file's names and shapes
(``[1, anchors, 16]`` regressors, ``[1, anchors, 1]`` logits). The converted network is checked
against OpenCV's reading of the same file before it is used (``vision/onnx/detector.py``).

Two things are done around the converter:

- it converts the bytes that were checked against the pin (written to a temporary folder:
  ``tflite2onnx.convert`` takes paths), never the installed path itself;
- its output is made reproducible: it lists the weights (initializers) and the tensor
  shapes (value_info) in the order of a Python set, which changes from one process to the
  next, so they are sorted by name before the model is serialized. The same ``.tflite`` file
  and converter version then give the same ONNX bytes, and so the same SHA-256, everywhere.

``tflite2onnx`` logs two warnings on these files that say nothing about the result: once per
weight, that float16 is "not supported/tested yet" (the files store their weights in float16
and dequantize them), and for the back network's upsampling (``Resize``) that an "empty tensor"
stands for its unused ``roi`` input, as ONNX allows. Those two are dropped, and so is its
information (the temporary file's name; this package logs what was converted): the check
against OpenCV is what vouches for the result. Any other warning it logs passes.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from facegate.vision.models import ModelFile
from facegate.vision.onnx.cache import Conversion

# Bump when what this module does around tflite2onnx changes: cached models are rebuilt.
CONVERTER_STEP = "facegate-tflite-onnx/1"


def converter_id() -> str:
    """This module's step and the installed tflite2onnx's version (ImportError without it)."""
    import tflite2onnx

    return f"{CONVERTER_STEP}+tflite2onnx-{tflite2onnx.__version__}"


# The starts of tflite2onnx's warnings that are expected on these files (see above).
EXPECTED_WARNINGS = (
    "Data type float16 not supported/tested yet",
    "Empty tensor used, please double confirm your code path",
)


class _DropExpected(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        return not record.getMessage().startswith(EXPECTED_WARNINGS)


def convert(source_bytes: bytes) -> bytes:
    """The ONNX model of a ``.tflite`` file's bytes, its weights and shapes sorted by name."""
    import onnx
    import tflite2onnx

    quiet = _DropExpected()
    logger = logging.getLogger("tflite2onnx")
    logger.addFilter(quiet)
    try:
        with tempfile.TemporaryDirectory(prefix="facegate-tflite-") as folder:
            source, target = Path(folder) / "network.tflite", Path(folder) / "network.onnx"
            source.write_bytes(source_bytes)
            tflite2onnx.convert(str(source), str(target))
            model = onnx.load_model_from_string(target.read_bytes())
    finally:
        logger.removeFilter(quiet)
    graph = model.graph
    for listed in (graph.initializer, graph.value_info):
        ordered = sorted(listed, key=lambda entry: entry.name)
        del listed[:]
        listed.extend(ordered)
    return model.SerializeToString(deterministic=True)


def tflite_conversion(model: ModelFile) -> Conversion:
    """The conversion of one of the chain's BlazeFace files, checked for its pinned SHA-256."""
    if model.sha256 is None:
        raise ValueError(f"{model.filename} has no pinned SHA-256: it cannot be converted")
    return Conversion(
        what=f"{model.role} network",
        source_sha256=model.sha256,
        converter=converter_id(),
        convert=convert,
        reinstall=f"reinstall it with: {model.reinstall}",
    )
