"""dlib's face recognition ResNet on onnxruntime, converted from the installed ``.dat``.

``dat`` reads dlib's serialization, ``resnet`` builds the ONNX graph, ``cache`` converts once
and caches the result with its SHA-256, ``runner`` runs it and ``descriptor`` chooses between
it and dlib (``FACEGATE_DESCRIPTOR``), checking it against dlib once per process.
"""

# The model's input (uint8 chips, n x 150 x 150 x 3, RGB) and output (float32, n x 128).
INPUT_NAME = "chips"
OUTPUT_NAME = "descriptors"
