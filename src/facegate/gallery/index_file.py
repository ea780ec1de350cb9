"""The file a collection's FAISS index is saved in: writing it atomically, reading it back.

File format (version 1), written atomically (temp file in the same directory, fsync,
``os.replace``)::

    b"FGVIDX01" | FAISS index (faiss.write_index) | header JSON | u64 LE header length
    | b"FGVIEND1"

The header holds the format version, kind, dim, state, tombstones, the FAISS payload's size
and CRC-32 (FAISS validates structure on read, but not the vector values themselves). What
the header says is checked against the index by :meth:`facegate.gallery.index.VectorIndex.load`;
this module checks the frame (magic, trailer, sizes, CRC) and the FAISS structure.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import faiss

FORMAT_VERSION = 1
MAGIC = b"FGVIDX01"
TRAILER = b"FGVIEND1"
_TRAILER_STRUCT = struct.Struct("<Q")
_TRAILER_SIZE = _TRAILER_STRUCT.size + len(TRAILER)
_MAX_HEADER_BYTES = 1 << 28
_IO_CHUNK = 1 << 20
# faiss untyped, for the classes its own type stubs leave out (they exist at runtime)
faiss_runtime: Any = faiss


class IndexCorrupt(Exception):
    """A persisted index file is unreadable, truncated or inconsistent with its own header."""


def write_file(path: Path, index: Any, header_of: Callable[[int, int], dict[str, Any]]) -> None:
    """Write ``index`` and its header (``header_of(payload_size, payload_crc32)``) to
    ``path`` through a temp file in the same directory, fsync and ``os.replace``.
    Make the rename durable with :func:`sync_directory` afterwards."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC)
            size, crc = _write_faiss(index, f)
            header = json.dumps(header_of(size, crc), separators=(",", ":")).encode()
            f.write(header)
            f.write(_TRAILER_STRUCT.pack(len(header)) + TRAILER)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_file(path: Path) -> tuple[Any, dict[str, Any]]:
    """The FAISS index and header of a file written by :func:`write_file`.
    FileNotFoundError when absent; IndexCorrupt (naming the path) on anything unreadable,
    truncated or inconsistent with the frame."""
    try:
        with open(path, "rb") as f:
            header, payload_start = _read_header(f)
            return _read_faiss(f, payload_start, header), header
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise IndexCorrupt(f"{path}: cannot read: {exc}") from exc
    except IndexCorrupt as exc:
        raise IndexCorrupt(f"{path}: {exc}") from exc


def check_structure(index: Any, kind: str, dim: int) -> None:
    """The read index is an IndexIDMap2 over the expected FAISS type and dimension."""
    if not isinstance(index, faiss.IndexIDMap2):
        raise IndexCorrupt(f"expected IndexIDMap2, found {type(index).__name__}")
    inner = faiss.downcast_index(index.index)
    wanted = faiss.IndexHNSWFlat if kind == "hnsw" else faiss.IndexFlatL2
    if not isinstance(inner, wanted) or inner.d != dim or index.d != dim:
        raise IndexCorrupt(f"expected {wanted.__name__} of dim {dim}, found {type(inner).__name__}")
    if index.id_map.size() != index.ntotal or inner.ntotal != index.ntotal:
        raise IndexCorrupt("id map and vectors disagree in size")


def sync_directory(directory: Path) -> None:
    """Make the rename durable (best effort: not every platform can open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_faiss(index: Any, f: BinaryIO) -> tuple[int, int]:
    """Stream ``faiss.write_index`` into ``f``; returns the bytes written and their CRC-32."""
    size, crc = 0, 0

    def sink(chunk: bytes) -> int:
        nonlocal size, crc
        f.write(chunk)
        size += len(chunk)
        crc = zlib.crc32(chunk, crc)
        return len(chunk)

    writer = faiss_runtime.PyCallbackIOWriter(sink, _IO_CHUNK)
    faiss.write_index(index, writer)
    del writer
    return size, crc


def _read_header(f: BinaryIO) -> tuple[dict[str, Any], int]:
    """Validate magic, trailer and sizes; returns the header and the payload offset."""
    total = os.fstat(f.fileno()).st_size
    if total < len(MAGIC) + _TRAILER_SIZE or f.read(len(MAGIC)) != MAGIC:
        raise IndexCorrupt("not a facegate index file (bad magic or too short)")
    f.seek(total - _TRAILER_SIZE)
    tail = f.read(_TRAILER_SIZE)
    if tail[_TRAILER_STRUCT.size :] != TRAILER:
        raise IndexCorrupt("truncated (no trailer)")
    (header_len,) = _TRAILER_STRUCT.unpack(tail[: _TRAILER_STRUCT.size])
    if header_len > min(_MAX_HEADER_BYTES, total - len(MAGIC) - _TRAILER_SIZE):
        raise IndexCorrupt("header length out of range")
    f.seek(total - _TRAILER_SIZE - header_len)
    try:
        header = json.loads(f.read(header_len))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorrupt(f"unreadable header: {exc}") from exc
    if not isinstance(header, dict) or header.get("format_version") != FORMAT_VERSION:
        raise IndexCorrupt("unsupported format version")
    payload = header.get("payload_size")
    if not isinstance(payload, int) or len(MAGIC) + payload + header_len + _TRAILER_SIZE != total:
        raise IndexCorrupt("payload size does not match the file size")
    return header, len(MAGIC)


def _read_faiss(f: BinaryIO, start: int, header: dict[str, Any]) -> Any:
    """Stream the FAISS payload through ``faiss.read_index``, checking its size and CRC."""
    remaining, crc = int(header["payload_size"]), 0
    f.seek(start)

    def source(n: int) -> bytes:
        nonlocal remaining, crc
        chunk = f.read(min(n, remaining))
        remaining -= len(chunk)
        crc = zlib.crc32(chunk, crc)
        return chunk

    reader = faiss_runtime.PyCallbackIOReader(source, _IO_CHUNK)
    try:
        index = faiss.read_index(reader)
    except RuntimeError as exc:
        raise IndexCorrupt(f"FAISS cannot read the index: {str(exc).splitlines()[0]}") from exc
    finally:
        del reader
    if remaining != 0 or crc != header.get("payload_crc32"):
        raise IndexCorrupt("payload CRC-32 or length mismatch")
    return index
