"""The ONNX descriptor network: converted from the installed ``.dat`` once, then cached.

Nothing is downloaded: the conversion reads the ``.dat`` that ``face_recognition_models``
installed (checked against its pinned SHA-256 first) and writes the model into the cache
folder (``<data_dir>/models/`` when the data folder exists) with a record beside it
(``<name>.onnx.json``) of the source file's SHA-256, the converter's version and the ONNX
file's SHA-256. A cached file is used only when its record matches the source, the converter
and the file's bytes; otherwise it is rebuilt and rewritten. The bytes that are checked are
the bytes that run (the session is created from them, not from the path).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
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
    """The installed ``.dat`` is not the file the converter was checked against."""


@dataclass(frozen=True)
class OnnxModel:
    """The serialized model, its SHA-256, and where it is cached (None: not cached)."""

    data: bytes
    sha256: str
    path: Path | None
    built: bool  # converted now (no usable cached file)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def onnx_name(source: Path) -> str:
    return source.with_suffix(".onnx").name


def convert(source_bytes: bytes) -> bytes:
    """The ONNX model of a ``.dat`` file's bytes (deferred imports: onnx is only needed here)."""
    from facegate.vision.onnx.dat import read_network
    from facegate.vision.onnx.resnet import build_model

    return build_model(read_network(source_bytes)).SerializeToString()


def load_or_convert(source: Path, cache_dir: Path | None) -> OnnxModel:
    """The ONNX model of ``source``: the cached one when its record checks out, else built now.

    Raises :class:`SourceMismatch` when ``source`` is not the pinned file.
    """
    source_bytes = source.read_bytes()
    source_sha = _sha256(source_bytes)
    if source_sha != SOURCE_SHA256:
        raise SourceMismatch(
            f"{source} has SHA-256 {source_sha}, not the pinned {SOURCE_SHA256}; the ONNX "
            "conversion is only checked for that file (reinstall face_recognition_models==0.3.0)"
        )
    path = cache_dir / onnx_name(source) if cache_dir is not None else None
    if path is not None:
        cached = _read_cached(path, source_sha)
        if cached is not None:
            return OnnxModel(cached, _sha256(cached), path, built=False)
    data = convert(source_bytes)
    digest = _sha256(data)
    written = path if path is not None and _write_cached(path, data, source, digest) else None
    return OnnxModel(data, digest, written, built=True)


def record_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _read_cached(path: Path, source_sha: str) -> bytes | None:
    """The cached model's bytes when its record names this source, this converter and them."""
    try:
        record = json.loads(record_path(path).read_text())
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring the cached descriptor model %s: %s", path, exc)
        return None
    if not isinstance(record, dict):
        log.warning("ignoring the cached descriptor model %s: its record is not an object", path)
        return None
    problems = [
        what
        for what, ok in (
            ("source", record.get("source_sha256") == source_sha),
            ("converter", record.get("converter") == CONVERTER),
            ("sha256", record.get("onnx_sha256") == _sha256(data)),
        )
        if not ok
    ]
    if problems:
        log.warning(
            "rebuilding the cached descriptor model %s: its %s does not match",
            path,
            ", ".join(problems),
        )
        return None
    return data


def _write_cached(path: Path, data: bytes, source: Path, digest: str) -> bool:
    """Write model and record atomically (rename); False (logged) when the folder is not ours."""
    record = {
        "source": source.name,
        "source_sha256": SOURCE_SHA256,
        "converter": CONVERTER,
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
        log.warning("could not cache the descriptor model in %s: %s", path.parent, exc)
        return False
    return True
