"""Converted ONNX models: converted from an installed model file once, then cached.

One mechanism serves every converted network: dlib's descriptor ResNet (from its ``.dat``,
:data:`DESCRIPTOR`) and BlazeFace's three detector networks (from their ``.tflite`` files,
``vision/onnx/tflite.py``). Each source is described by a :class:`Conversion`: the source
file's pinned SHA-256, the converter's id and the function that converts the file's bytes.

Nothing is downloaded: the conversion reads the installed file (checked against its pinned
SHA-256 first) and writes the model into the cache folder (``<data_dir>/models/`` when the
data folder exists) with a record beside it (``<name>.onnx.json``) of the source file's
SHA-256, the converter's id and the ONNX file's SHA-256. A cached file is used only when its
record matches the source, the converter and the file's bytes; otherwise it is rebuilt and
rewritten. The bytes that are checked are the bytes that run (the session is created from
them, not from the path).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from facegate.vision.models import DEFAULT_CHAIN

log = logging.getLogger("facegate.vision")

# The descriptor file's pin, kept with the other model pins in the registry.
assert DEFAULT_CHAIN.descriptor.sha256 is not None
SOURCE_SHA256: str = DEFAULT_CHAIN.descriptor.sha256
# Bump when the graph resnet.py builds changes: cached files of other versions are rebuilt.
CONVERTER = "facegate-dlib-resnet-onnx/1"


class SourceMismatch(RuntimeError):
    """The installed source file is not the file the converter was checked against."""


@dataclass(frozen=True)
class Conversion:
    """How one kind of source file becomes an ONNX model, and which file it is checked for."""

    what: str  # for the log: "descriptor model", "blazeface-back network", ...
    source_sha256: str  # the pinned source file: any other is refused
    converter: str  # the converter's id: a cached model of another id is rebuilt
    convert: Callable[[bytes], bytes]  # the source file's bytes to the ONNX model's
    reinstall: str  # what puts the pinned file back (for the error message)


@dataclass(frozen=True)
class OnnxModel:
    """The serialized model, its SHA-256, and where it is cached (None: not cached)."""

    data: bytes
    sha256: str
    path: Path | None
    built: bool  # converted now (no usable cached file)


def model_cache_dir(data_dir: Path) -> Path | None:
    """Where converted models are cached: ``<data_dir>/models`` once the data folder exists
    (a command run without one converts in memory and leaves nothing behind)."""
    return data_dir / "models" if data_dir.is_dir() else None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def onnx_name(source: Path) -> str:
    return source.with_suffix(".onnx").name


def convert(source_bytes: bytes) -> bytes:
    """The ONNX model of a ``.dat`` file's bytes (deferred imports: onnx is only needed here)."""
    from facegate.vision.onnx.dat import read_network
    from facegate.vision.onnx.resnet import build_model

    return build_model(read_network(source_bytes)).SerializeToString()


DESCRIPTOR = Conversion(
    what="descriptor model",
    source_sha256=SOURCE_SHA256,
    converter=CONVERTER,
    convert=convert,
    reinstall="reinstall face_recognition_models==0.3.0",
)


def load_or_convert(
    source: Path, cache_dir: Path | None, conversion: Conversion = DESCRIPTOR
) -> OnnxModel:
    """The ONNX model of ``source``: the cached one when its record checks out, else built now
    by ``conversion`` (default: the descriptor's).

    Raises :class:`SourceMismatch` when ``source`` is not the pinned file.
    """
    source_bytes = source.read_bytes()
    source_sha = _sha256(source_bytes)
    if source_sha != conversion.source_sha256:
        raise SourceMismatch(
            f"{source} has SHA-256 {source_sha}, not the pinned {conversion.source_sha256}; "
            f"the ONNX conversion is only checked for that file ({conversion.reinstall})"
        )
    path = cache_dir / onnx_name(source) if cache_dir is not None else None
    if path is not None:
        cached = _read_cached(path, conversion)
        if cached is not None:
            return OnnxModel(cached, _sha256(cached), path, built=False)
    data = conversion.convert(source_bytes)
    digest = _sha256(data)
    written = (
        path if path is not None and _write_cached(path, data, source, digest, conversion) else None
    )
    return OnnxModel(data, digest, written, built=True)


def record_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _read_cached(path: Path, conversion: Conversion) -> bytes | None:
    """The cached model's bytes when its record names this source, this converter and them."""
    try:
        record = json.loads(record_path(path).read_text())
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring the cached %s %s: %s", conversion.what, path, exc)
        return None
    if not isinstance(record, dict):
        log.warning("ignoring the cached %s %s: its record is not an object", conversion.what, path)
        return None
    problems = [
        what
        for what, ok in (
            ("source", record.get("source_sha256") == conversion.source_sha256),
            ("converter", record.get("converter") == conversion.converter),
            ("sha256", record.get("onnx_sha256") == _sha256(data)),
        )
        if not ok
    ]
    if problems:
        log.warning(
            "rebuilding the cached %s %s: its %s does not match",
            conversion.what,
            path,
            ", ".join(problems),
        )
        return None
    return data


def _write_cached(
    path: Path, data: bytes, source: Path, digest: str, conversion: Conversion
) -> bool:
    """Write model and record atomically (rename); False (logged) when the folder is not ours."""
    record = {
        "source": source.name,
        "source_sha256": conversion.source_sha256,
        "converter": conversion.converter,
        "onnx": path.name,
        "onnx_sha256": digest,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for target, content in (
            (path, data),
            (record_path(path), (json.dumps(record, indent=2) + "\n").encode()),
        ):
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(content)
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
    except OSError as exc:
        log.warning("could not cache the %s in %s: %s", conversion.what, path.parent, exc)
        return False
    return True
