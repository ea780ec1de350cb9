"""Networks on onnxruntime, converted from the installed model files: dlib's face recognition
ResNet (from its ``.dat``) and BlazeFace's three detector networks (from their ``.tflite``).

``dat`` reads dlib's serialization, ``resnet`` builds the ONNX graph, ``cache`` converts once
and caches the result with its SHA-256, ``runner`` runs it and ``descriptor`` chooses between
it and dlib (``FACEGATE_DESCRIPTOR``), checking it against dlib once per process.

``tflite`` converts BlazeFace's files with the ``tflite2onnx`` package (cached by ``cache``
too), ``vision/networks.py``'s ``OnnxNetwork`` runs them and ``detector`` chooses between them
and OpenCV DNN (``FACEGATE_DETECTOR_RUNTIME``), checking each against OpenCV once per process.
``selection`` holds the rule both choices follow.
"""

# The model's input (uint8 chips, n x 150 x 150 x 3, RGB) and output (float32, n x 128).
INPUT_NAME = "chips"
OUTPUT_NAME = "descriptors"
