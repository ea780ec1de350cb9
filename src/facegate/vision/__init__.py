"""Pixels to faces: decoding, detection, landmarks, pose, quality, descriptors, calibration."""

import os

# Parallelism comes from one engine per worker process; a BLAS-enabled dlib build must not
# also start a thread per core in each of them. Set before dlib (and OpenBLAS) is loaded;
# an operator's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
