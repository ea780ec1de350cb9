"""The detector networks' common face: an NCHW float32 blob in, the network's outputs out.

BlazeFace's networks (``vision/blazeface.py``) run through this interface, so the decoding
does not depend on which runtime computes them: OpenCV's DNN module reading the ``.tflite``
files directly (:class:`OpenCvNetwork`, the reference), or onnxruntime on converted copies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np


class Network(Protocol):
    """One loaded network: ``run`` takes a (1, 3, H, W) float32 blob and returns every output."""

    runtime: str

    def run(self, blob: np.ndarray) -> list[np.ndarray]: ...


class OpenCvNetwork:
    """A ``.tflite`` network in OpenCV's DNN module (no TensorFlow). OpenCV runs one thread per
    process: the parallelism is the worker processes'."""

    runtime = "opencv"

    def __init__(self, path: Path):
        import cv2  # deferred: importing facegate loads no model

        cv2.setNumThreads(1)
        self.net: Any = cv2.dnn.readNetFromTFLite(str(path))
        self.outputs = self.net.getUnconnectedOutLayersNames()

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        self.net.setInput(blob)
        return list(self.net.forward(self.outputs))
