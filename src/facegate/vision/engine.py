"""The face engine: bytes in, faces (and vectors) out; DetectFaces and CompareFaces semantics.

One engine per process holds the loaded models (:func:`facegate.vision.models.load_models`
loads them once). The engine is synchronous and CPU-bound: the service runs it in a worker
pool, the CLI runs it directly.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import dlib
import numpy as np

from facegate.config import Settings, load_settings
from facegate.errors import InvalidParameterException
from facegate.vision.calibration import Calibration, shipped_calibration
from facegate.vision.crops import face_crop
from facegate.vision.decode import DecodedImage, decode_image
from facegate.vision.detect import detect
from facegate.vision.faces import Analysis, Face
from facegate.vision.geometry import Box, face_pose
from facegate.vision.keypoints import keypoint_pose
from facegate.vision.models import DEFAULT_CHAIN, LoadedModels, load_models
from facegate.vision.networks import Network
from facegate.vision.onnx.cache import model_cache_dir
from facegate.vision.onnx.descriptor import Descriptor, select_descriptor
from facegate.vision.onnx.detector import select_detector_networks
from facegate.vision.quality import brightness, sharpness

DEFAULT_SIMILARITY_THRESHOLD = 80.0


def stacked_embeddings(faces: list[Face]) -> np.ndarray:
    """The descriptors :meth:`FaceEngine.embed_faces` computed for ``faces``, one row each."""
    vectors: list[np.ndarray] = []
    for face in faces:
        assert face.embedding is not None, "embed_faces computes every face's descriptor"
        vectors.append(face.embedding)
    return np.stack(vectors)


class FaceEngine:
    """Detection, analysis, embedding and comparison on one model chain."""

    def __init__(
        self, settings: Settings | None = None, model_version: str = DEFAULT_CHAIN.version
    ):
        self.settings = settings or load_settings()
        self.models: LoadedModels = load_models(model_version)
        self.chain = self.models.chain
        cache_dir = model_cache_dir(self.settings.data_dir)
        # dlib's ResNet on onnxruntime when it is available and checked, else dlib's own.
        self.descriptor: Descriptor = select_descriptor(
            self.models, self.settings.descriptor, cache_dir
        )
        # BlazeFace's networks on onnxruntime when they are available and checked, else the
        # OpenCV ones in self.models.blazeface.
        self.detector_networks: dict[str, Network] = select_detector_networks(
            self.models, self.settings.detector_runtime, cache_dir
        )

    @cached_property
    def calibration(self) -> Calibration:
        """The shipped similarity calibration of this engine's model chain."""
        return shipped_calibration(self.chain.calibration)

    # --- pixels to faces ---------------------------------------------------------------------

    def decode(self, data: bytes) -> DecodedImage:
        return decode_image(data, self.settings.decode)

    def analyze(self, data: bytes, *, detector: str | None = None, embed: bool = False) -> Analysis:
        """Decode ``data`` and analyse every face (the largest ``max_faces``), largest first."""
        return self.analyze_pixels(self.decode(data).pixels, detector=detector, embed=embed)

    def analyze_pixels(
        self, pixels: np.ndarray, *, detector: str | None = None, embed: bool = False
    ) -> Analysis:
        height, width = pixels.shape[:2]
        found = detect(
            self.models, pixels, self.settings.detect, detector, networks=self.detector_networks
        )
        found.sort(key=lambda d: d.box.area, reverse=True)
        found = found[: self.settings.detect.max_faces]
        faces: list[Face] = []
        for det in found:
            shape = self.models.landmarks(pixels, _dlib_rect(det.box))
            points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
            faces.append(
                Face(
                    box=det.box,
                    confidence=det.confidence,
                    detector=det.detector,
                    landmarks=points,
                    pose=face_pose(points, det.frontal)
                    if det.keypoints is None
                    else keypoint_pose(det.keypoints),
                    frontal=det.frontal,
                    brightness=brightness(pixels, det.box),
                    sharpness=sharpness(pixels, det.box),
                    keypoints=det.keypoints,
                )
            )
        if embed and faces:
            self.embed_faces(pixels, faces)
        return Analysis(width=width, height=height, faces=faces, model_version=self.chain.version)

    def embed_faces(self, pixels: np.ndarray, faces: list[Face]) -> None:
        """Compute each face's descriptor in place, from the chip its landmarks align."""
        if not faces:
            return
        vectors = self.descriptor.compute(self.face_chips(pixels, faces))  # all in one call
        for face, vector in zip(faces, vectors, strict=True):
            face.embedding = vector

    def face_chips(self, pixels: np.ndarray, faces: list[Face]) -> list[np.ndarray]:
        """dlib's aligned chips (uint8 RGB, chip size square) of ``faces``, from their landmarks."""
        if not faces:
            return []
        shapes = [
            dlib.full_object_detection(
                _dlib_rect(f.box), [dlib.point(round(x), round(y)) for x, y in f.landmarks]
            )
            for f in faces
        ]
        chips = dlib.get_face_chips(
            pixels,
            dlib.full_object_detections(shapes),
            size=self.chain.chip_size,
            padding=self.chain.chip_padding,
        )
        return list(chips)

    # --- comparison --------------------------------------------------------------------------

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
        """Calibrated 0-100 similarity between one vector and one or many others."""
        distance = np.linalg.norm(np.atleast_2d(b) - np.asarray(a), axis=1)
        sims = self.calibration.similarity(distance)
        assert isinstance(sims, np.ndarray)  # the distances are 1-d, so are their similarities
        return float(sims[0]) if np.ndim(b) == 1 else sims

    # --- Rekognition operations --------------------------------------------------------------

    def detect_faces(self, data: bytes, *, detector: str | None = None) -> dict[str, Any]:
        """DetectFaces: the ``FaceDetails`` of the (up to 100) largest faces."""
        return {"FaceDetails": self.analyze(data, detector=detector).face_details()}

    def compare_faces(
        self,
        source: bytes,
        target: bytes,
        *,
        threshold: float = DEFAULT_SIMILARITY_THRESHOLD,
        quality_filter: str = "NONE",
        detector: str | None = None,
    ) -> dict[str, Any]:
        """CompareFaces: the largest usable source face against every usable target face."""
        src_pixels = self.decode(source).pixels
        tgt_pixels = self.decode(target).pixels
        src = self.analyze_pixels(src_pixels, detector=detector)
        src_faces = [f for f in src.faces if not f.reasons(quality_filter)]
        if not src_faces:
            why = (
                "no face was found"
                if not src.faces
                else (f"no face passed the {quality_filter} quality filter")
            )
            raise InvalidParameterException(
                f"The source image has no usable face: {why}. Send a photo with a visible face."
            )
        probe = src_faces[0]
        self.embed_faces(src_pixels, [probe])
        tgt = self.analyze_pixels(tgt_pixels, detector=detector)
        candidates = [f for f in tgt.faces if not f.reasons(quality_filter)]
        matches: list[dict[str, Any]] = []
        unmatched: list[dict[str, Any]] = []
        if candidates:
            self.embed_faces(tgt_pixels, candidates)
            assert probe.embedding is not None
            sims = self.similarity(probe.embedding, stacked_embeddings(candidates))
            for face, sim in zip(candidates, np.atleast_1d(sims), strict=True):
                detail = face.face_detail(tgt.width, tgt.height)
                if sim >= threshold:
                    matches.append({"Similarity": round(float(sim), 4), "Face": detail})
                else:
                    unmatched.append(detail)
        matches.sort(key=lambda m: m["Similarity"], reverse=True)
        return {
            "SourceImageFace": {
                "BoundingBox": probe.box.to_ratios(src.width, src.height),
                "Confidence": round(probe.confidence, 6),
            },
            "FaceMatches": matches,
            "UnmatchedFaces": unmatched,
        }

    def index_candidates(
        self,
        data: bytes,
        *,
        max_faces: int,
        quality_filter: str,
        detector: str | None = None,
        crops: bool = False,
    ) -> dict[str, Any]:
        """IndexFaces' selection: faces to store (with vectors) and faces left out, with reasons.

        Faces below the quality bar are left out with its reasons; of the rest, the
        ``max_faces`` best are kept, lower quality first out, then smaller (the
        ``EXCEEDS_MAX_FACES`` ones).
        """
        pixels = self.decode(data).pixels
        analysis = self.analyze_pixels(pixels, detector=detector)
        usable, unindexed = [], []
        for face in analysis.faces:
            reasons = face.reasons(quality_filter)
            if reasons:
                unindexed.append((face, reasons))
            else:
                usable.append(face)
        rank = {None: 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3}
        usable.sort(key=lambda f: (rank[f.verdict()["Level"]], f.box.area), reverse=True)
        kept, extra = usable[:max_faces], usable[max_faces:]
        unindexed += [(face, ["EXCEEDS_MAX_FACES"]) for face in extra]
        self.embed_faces(pixels, kept)
        return {
            "indexed": [
                {
                    "detail": f.face_detail(analysis.width, analysis.height),
                    "vector": f.embedding,
                    **({"crop": face_crop(pixels, f.box)} if crops else {}),
                }
                for f in kept
            ],
            "unindexed": [
                {"FaceDetail": f.face_detail(analysis.width, analysis.height), "Reasons": r}
                for f, r in unindexed
            ],
        }

    def probe(
        self,
        data: bytes,
        *,
        quality_filter: str = "NONE",
        detector: str | None = None,
        crop: bool = False,
    ) -> dict[str, Any]:
        """The largest usable face of a search image, its vector, and the faces not searched."""
        pixels = self.decode(data).pixels
        analysis = self.analyze_pixels(pixels, detector=detector)
        chosen: Face | None = None
        unsearched = []
        for face in analysis.faces:
            reasons = face.reasons(quality_filter)
            if chosen is None and not reasons:
                chosen = face
                continue
            unsearched.append(
                {
                    "FaceDetails": face.face_detail(analysis.width, analysis.height),
                    "Reasons": reasons or ["FACE_NOT_LARGEST"],
                }
            )
        if chosen is None:
            why = (
                "no face was found"
                if not analysis.faces
                else (f"no face passed the {quality_filter} quality filter")
            )
            raise InvalidParameterException(f"The image has no usable face to search with: {why}.")
        self.embed_faces(pixels, [chosen])
        return {
            "detail": chosen.face_detail(analysis.width, analysis.height),
            "vector": chosen.embedding,
            "unsearched": unsearched,
            **({"crop": face_crop(pixels, chosen.box)} if crop else {}),
        }


def _dlib_rect(box: Box) -> dlib.rectangle:
    """dlib's rectangle (inclusive right and bottom) for a box in pixels."""
    return dlib.rectangle(
        round(box.left), round(box.top), round(box.right) - 1, round(box.bottom) - 1
    )
