"""dlib's ResNet on onnxruntime gives dlib's descriptors: every component within 1e-4 of
``compute_face_descriptor`` on every face of the test images, batched and one by one; the
converted model is cached with its SHA-256 and rebuilt when the file or its record is wrong;
a network that does not reproduce dlib's is refused at start (``onnx``) or replaced by dlib
(``auto``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facegate.config import Settings, load_settings
from facegate.vision.decode import decode_image
from facegate.vision.engine import FaceEngine
from facegate.vision.onnx.cache import (
    CONVERTER,
    SOURCE_SHA256,
    SourceMismatch,
    load_or_convert,
    onnx_name,
    record_path,
)
from facegate.vision.onnx.dat import DatFormatError, read_network
from facegate.vision.onnx.descriptor import (
    TOLERANCE,
    DescriptorCheckFailed,
    DlibDescriptor,
    check_against_dlib,
    reference_chip,
    select_descriptor,
)
from facegate.vision.onnx.resnet import build_model
from facegate.vision.onnx.runner import OnnxDescriptor
from tests.conftest import CACHE_DAMAGES, DATA, damage_cached_model

pytestmark = pytest.mark.models

# Few images with many faces (group photos, several resolutions): in make test-fast.
QUICK = [
    "deepface/selfie-many-people.jpg",
    "deepface/couple.jpg",
    "face_recognition/two_people.jpg",
    "face_recognition/obama.jpg",
    "face_recognition/obama-1080p.jpg",
    "face_recognition/biden.jpg",
    "face_recognition/lin-manuel-miranda.png",
    "face_recognition/alex-lacamoire.png",
]


@pytest.fixture(scope="module")
def source() -> Path:
    from facegate.vision.models import DEFAULT_CHAIN

    return DEFAULT_CHAIN.descriptor.path()


@pytest.fixture(scope="module")
def onnx_runner(source: Path) -> OnnxDescriptor:
    return OnnxDescriptor(load_or_convert(source, None).data)


@pytest.fixture(scope="module")
def dlib_runner(engine: FaceEngine) -> DlibDescriptor:
    return DlibDescriptor(engine.models.descriptor)


def chips_of(engine: FaceEngine, relative: list[str]) -> list[list[np.ndarray]]:
    """Every face's chip, per image, as the engine cuts them (HOG finds the faces)."""
    per_image = []
    for name in relative:
        pixels = decode_image((DATA / name).read_bytes(), engine.settings.decode).pixels
        faces = engine.analyze_pixels(pixels, detector="hog").faces
        per_image.append(engine.face_chips(pixels, faces))
    return per_image


def assert_same_descriptors(
    per_image: list[list[np.ndarray]], onnx_runner: OnnxDescriptor, dlib_runner: DlibDescriptor
) -> float:
    """ONNX equals dlib per face: each image's faces in one call, all faces in one call (runs
    of MAX_BATCH) and every face alone. Returns the largest difference seen."""
    everything = [chip for chips in per_image for chip in chips]
    want = dlib_runner.compute(everything)
    batched = np.concatenate([onnx_runner.compute(chips) for chips in per_image if chips])
    together = onnx_runner.compute(everything)
    alone = np.concatenate([onnx_runner.compute([chip]) for chip in everything])
    worst = 0.0
    for got in (batched, together, alone):
        assert got.shape == want.shape == (len(everything), 128)
        assert got.dtype == np.float32
        diff = np.abs(got - want).max(axis=1)
        assert (diff <= TOLERANCE).all(), f"faces {np.flatnonzero(diff > TOLERANCE)}: {diff.max()}"
        worst = max(worst, float(diff.max()))
    return worst


def test_onnx_gives_dlibs_descriptors_on_group_photos(engine, onnx_runner, dlib_runner):
    per_image = chips_of(engine, QUICK)
    assert sum(map(len, per_image)) >= 10  # the group photos hold many faces
    assert max(map(len, per_image)) >= 4
    assert_same_descriptors(per_image, onnx_runner, dlib_runner)


@pytest.mark.slow
def test_onnx_gives_dlibs_descriptors_on_every_frontal_london_view_and_deepface_photo(
    engine, onnx_runner, dlib_runner
):
    names = sorted(
        str(p.relative_to(DATA))
        for p in [
            *(DATA / "london" / "neutral_front").glob("*.jpg"),
            *(DATA / "london" / "smiling_front").glob("*.jpg"),
            *(DATA / "deepface").glob("img*.jpg"),
        ]
    )
    per_image = chips_of(engine, names)
    assert len(names) >= 100
    assert sum(map(len, per_image)) >= len(names) - 5  # a face in (nearly) every photo
    assert_same_descriptors(per_image, onnx_runner, dlib_runner)


def test_the_engine_embeds_with_onnx_by_default_and_gives_dlibs_vectors(dlib_runner):
    assert Settings().descriptor == "auto"
    engine = FaceEngine(load_settings(descriptor="auto"))
    assert engine.descriptor.name == "onnx"
    pixels = decode_image((DATA / QUICK[0]).read_bytes(), engine.settings.decode).pixels
    faces = engine.analyze_pixels(pixels, detector="hog", embed=True).faces
    assert len(faces) >= 4
    want = dlib_runner.compute(engine.face_chips(pixels, faces))
    for face, vector in zip(faces, want, strict=True):
        assert face.embedding is not None
        assert np.abs(face.embedding - vector).max() <= TOLERANCE


def test_a_dlib_engine_keeps_dlibs_own_network():
    dlib_engine = FaceEngine(load_settings(descriptor="dlib"))
    assert dlib_engine.descriptor.name == "dlib"


def test_the_setting_names_a_runtime(monkeypatch):
    for mode in ("auto", "dlib", "onnx"):
        monkeypatch.setenv("FACEGATE_DESCRIPTOR", mode)
        assert load_settings().descriptor == mode
    monkeypatch.setenv("FACEGATE_DESCRIPTOR", "tensorflow")
    with pytest.raises(SystemExit, match="FACEGATE_DESCRIPTOR must be one of auto, dlib, onnx"):
        load_settings()


# --- the cache ------------------------------------------------------------------------------


def test_the_model_is_converted_once_then_read_from_the_cache(source, tmp_path):
    first = load_or_convert(source, tmp_path)
    assert first.built and first.path == tmp_path / onnx_name(source)
    record = json.loads(record_path(first.path).read_text())
    assert record == {
        "source": source.name,
        "source_sha256": SOURCE_SHA256,
        "converter": CONVERTER,
        "onnx": first.path.name,
        "onnx_sha256": first.sha256,
    }
    again = load_or_convert(source, tmp_path)
    assert not again.built
    assert again.data == first.data and again.sha256 == first.sha256


@pytest.mark.parametrize("damage", CACHE_DAMAGES)
def test_a_damaged_cache_is_rebuilt(source, tmp_path, damage):
    good = load_or_convert(source, tmp_path)
    assert good.path is not None
    record = record_path(good.path)
    damage_cached_model(good.path, damage)
    rebuilt = load_or_convert(source, tmp_path)
    assert rebuilt.built
    assert rebuilt.sha256 == good.sha256
    assert good.path.read_bytes() == good.data
    assert json.loads(record.read_text())["onnx_sha256"] == good.sha256


def test_a_source_file_other_than_the_pinned_one_is_refused(source, tmp_path):
    data = bytearray(source.read_bytes())
    data[-10] ^= 0x01  # one bit of the last layer's weights
    other = tmp_path / source.name
    other.write_bytes(bytes(data))
    with pytest.raises(SourceMismatch, match="not the pinned"):
        load_or_convert(other, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_an_unreadable_cache_folder_still_converts_in_memory(source, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    model = load_or_convert(source, blocker / "models")
    assert model.built and model.path is None
    assert model.sha256 == load_or_convert(source, None).sha256


# --- a network that is not dlib's ----------------------------------------------------------


def tampered_model(source: Path) -> bytes:
    """The converted network with its first convolution's weights 1% larger."""
    net = read_network(source.read_bytes())
    first = net.layers[1]
    assert first.kind == "con" and first.params is not None
    first.params = first.params * np.float32(1.01)
    return build_model(net).SerializeToString()


def plant(cache: Path, source: Path, data: bytes) -> None:
    """A cached model with a record that matches it: the SHA-256 alone cannot tell."""
    import hashlib

    cache.mkdir()
    (cache / onnx_name(source)).write_bytes(data)
    record = {
        "source": source.name,
        "source_sha256": SOURCE_SHA256,
        "converter": CONVERTER,
        "onnx": onnx_name(source),
        "onnx_sha256": hashlib.sha256(data).hexdigest(),
    }
    record_path(cache / onnx_name(source)).write_text(json.dumps(record))


def test_the_check_against_dlib_fails_for_another_network(source, dlib_runner, onnx_runner):
    assert check_against_dlib(onnx_runner, dlib_runner) <= TOLERANCE
    tampered = OnnxDescriptor(tampered_model(source))
    with pytest.raises(DescriptorCheckFailed, match="differs from dlib's"):
        check_against_dlib(tampered, dlib_runner)


def test_a_network_that_fails_the_check_is_refused_or_replaced_by_dlib(engine, source, tmp_path):
    cache = tmp_path / "models"
    plant(cache, source, tampered_model(source))
    with pytest.raises(RuntimeError, match=r"FACEGATE_DESCRIPTOR=onnx.*differs from dlib's"):
        select_descriptor(engine.models, "onnx", cache)
    assert select_descriptor(engine.models, "auto", cache).name == "dlib"


def test_the_check_chip_is_fixed():
    chip = reference_chip()
    assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8
    assert np.array_equal(chip, reference_chip())
    assert 40 < chip.std() < 90  # not flat: every layer sees varied input


# --- reading dlib's file -------------------------------------------------------------------


def test_the_reader_finds_dlibs_face_network(source):
    net = read_network(source.read_bytes())
    kinds = [layer.kind for layer in net.layers]
    assert kinds[0] == "input_rgb_image_sized" and kinds[-1] == "fc"
    assert kinds.count("con") == 29 and kinds.count("affine") == 29
    assert kinds.count("add_prev") == 14
    means = [net.layers[0].fields[c] for c in ("avg_red", "avg_green", "avg_blue")]
    assert np.allclose(means, [122.782, 117.001, 104.298], atol=1e-3)
    assert net.loss.fields["distance_threshold"] == pytest.approx(0.6)


@pytest.mark.parametrize("cut", [0, 5, 300, 1_000_000, -1])
def test_a_truncated_dat_file_is_a_format_error(source, cut):
    data = source.read_bytes()
    with pytest.raises(DatFormatError):
        read_network(data[:cut])


def test_bytes_after_the_network_are_a_format_error(source):
    with pytest.raises(DatFormatError, match="left over"):
        read_network(source.read_bytes() + b"\x00")


def test_chips_of_the_wrong_shape_are_refused(onnx_runner):
    with pytest.raises(ValueError, match="must be uint8"):
        onnx_runner.compute([np.zeros((112, 112, 3), np.uint8)])
    assert onnx_runner.compute([]).shape == (0, 128)
