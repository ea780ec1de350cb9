"""The FAISS projection of each collection's faces: loaded, checked against SQL, kept current.

SQL is the truth. At start-up each collection's persisted index is checked against SQL (count,
highest row id, checksum of the ids) and rebuilt from the ``faces`` rows when it is missing,
stale or damaged (:func:`sync_with_sql`). Writers hold the collection's lock across the SQL
commit and the index update, so ids reach the index in order. The index is saved after enough
changes, and on shutdown; a crash in between only makes it stale, and stale means rebuilt.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from facegate.gallery.index import DEFAULT_DIM, IndexCorrupt, VectorIndex
from facegate.gallery.index_state import IndexState, checksum_of
from facegate.gallery.tables import Collection, Face

log = logging.getLogger("facegate.gallery")

SAVE_AFTER_CHANGES = 1000
SAVE_AFTER_SECONDS = 30.0


def vector_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def vector_from(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4")


def sync_with_sql(
    path: Path,
    expected: IndexState,
    load_rows: Callable[[], tuple[np.ndarray, np.ndarray]],
    **kw: Any,
) -> tuple[VectorIndex, str]:
    """Load the persisted index if its state equals ``expected`` (count, high_water, checksum
    computed by the caller from SQL); otherwise (missing, corrupt, stale) rebuild from
    ``load_rows()`` and save. Returns the index and what happened: ``"loaded"`` |
    ``"rebuilt:missing"`` | ``"rebuilt:stale"`` | ``"rebuilt:corrupt"``.

    ``kw`` are :class:`VectorIndex` options; a loaded index takes their ``ef_search`` and
    ``approximate_from``, and one of another ``dim`` counts as stale.
    """
    path = Path(path)
    reason = _try_load(path, expected, kw)
    if isinstance(reason, VectorIndex):
        return reason, "loaded"
    ids, vectors = load_rows()
    index = VectorIndex.build(ids, vectors, **kw)
    if index.state != expected:
        log.warning("%s: rows loaded from SQL give %s, expected %s", path, index.state, expected)
    index.save(path)
    return index, f"rebuilt:{reason}"


def _try_load(path: Path, expected: IndexState, kw: dict[str, Any]) -> VectorIndex | str:
    """The loaded index when usable, else why not: "missing", "corrupt" or "stale"."""
    try:
        index = VectorIndex.load(path)
    except FileNotFoundError:
        return "missing"
    except IndexCorrupt as exc:
        log.warning("rebuilding corrupt index: %s", exc)
        return "corrupt"
    if index.state != expected or index.dim != kw.get("dim", DEFAULT_DIM):
        return "stale"
    if "ef_search" in kw:
        index.ef_search = int(kw["ef_search"])
    if "approximate_from" in kw:
        index.approximate_from = int(kw["approximate_from"])
    return index


class IndexRegistry:
    def __init__(self, sessions: sessionmaker[Session], directory: Path, approximate_from: int):
        self.sessions = sessions
        self.directory = directory
        self.approximate_from = approximate_from
        self._indexes: dict[int, VectorIndex] = {}
        self._locks: dict[int, threading.RLock] = {}
        self._dirty: dict[int, tuple[int, float]] = {}
        self._guard = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, collection_id: int) -> Path:
        return self.directory / f"collection-{collection_id}.faiss"

    @contextmanager
    def locked(self, collection_id: int) -> Iterator[None]:
        """Hold a collection's write lock (SQL commit and index update happen under it)."""
        with self._guard:
            lock = self._locks.setdefault(collection_id, threading.RLock())
        with lock:
            yield

    def get(self, collection_id: int) -> VectorIndex:
        with self.locked(collection_id):
            index = self._indexes.get(collection_id)
            if index is None:
                index, outcome = sync_with_sql(
                    self._path(collection_id),
                    self.expected_state(collection_id),
                    lambda: self.rows(collection_id),
                    approximate_from=self.approximate_from,
                )
                log.info("collection %s index %s (%d faces)", collection_id, outcome, len(index))
                self._indexes[collection_id] = index
            return index

    def load_all(self) -> int:
        """Check every collection's index against SQL now (at start-up); returns how many."""
        with self.sessions() as s:
            ids = s.scalars(select(Collection.id)).all()
        for collection_id in ids:
            self.get(collection_id)
        return len(ids)

    def expected_state(self, collection_id: int) -> IndexState:
        with self.sessions() as s:
            where = Face.collection_id == collection_id
            count = s.scalar(select(func.count()).select_from(Face).where(where)) or 0
            high = s.scalar(select(func.max(Face.row_id)).where(where)) or 0
            ids = s.scalars(select(Face.row_id).where(where).order_by(Face.row_id)).all()
        return IndexState(count=count, high_water=high, checksum=checksum_of(ids))

    def rows(self, collection_id: int) -> tuple[np.ndarray, np.ndarray]:
        with self.sessions() as s:
            found = s.execute(
                select(Face.row_id, Face.vector)
                .where(Face.collection_id == collection_id)
                .order_by(Face.row_id)
            ).all()
        ids = np.array([r[0] for r in found], dtype=np.int64)
        vectors = (
            np.stack([vector_from(r[1]) for r in found]).astype(np.float32)
            if found
            else np.zeros((0, 128), dtype=np.float32)
        )
        return ids, vectors

    def _loaded(self, collection_id: int) -> VectorIndex | None:
        """The loaded index to update, or None after loading it now from SQL.

        Call with the collection locked, after the change committed: an index not loaded yet
        is built from SQL, which already holds the change, so there is nothing to apply.
        """
        index = self._indexes.get(collection_id)
        if index is None:
            self.get(collection_id)
        return index

    def added(self, collection_id: int, ids: list[int], vectors: np.ndarray) -> None:
        """Apply committed new rows to the collection's index (see :meth:`_loaded`)."""
        if ids and (index := self._loaded(collection_id)) is not None:
            index.add(np.array(ids, dtype=np.int64), vectors.astype(np.float32))
            self._changed(collection_id, len(ids))

    def removed(self, collection_id: int, ids: list[int]) -> None:
        """Apply committed deletions to the collection's index (see :meth:`_loaded`)."""
        if ids and (index := self._loaded(collection_id)) is not None:
            index.remove(ids)
            self._changed(collection_id, len(ids))

    def purged(self, collection_id: int, ids: list[int]) -> None:
        """Apply committed deletions that must leave no trace (retention, erasure): the ids
        are removed, an HNSW graph is rebuilt without them, and the file is saved now."""
        index = self._loaded(collection_id)
        if index is not None and ids:
            index.remove(ids)
            index.compact()
        self._indexes[collection_id].save(self._path(collection_id))
        self._dirty.pop(collection_id, None)

    def _changed(self, collection_id: int, n: int) -> None:
        changes, since = self._dirty.get(collection_id, (0, time.monotonic()))
        changes += n
        if changes >= SAVE_AFTER_CHANGES or time.monotonic() - since >= SAVE_AFTER_SECONDS:
            self._indexes[collection_id].save(self._path(collection_id))
            self._dirty.pop(collection_id, None)
        else:
            self._dirty[collection_id] = (changes, since)

    def drop(self, collection_id: int) -> None:
        with self.locked(collection_id):
            self._indexes.pop(collection_id, None)
            self._dirty.pop(collection_id, None)
            self._path(collection_id).unlink(missing_ok=True)

    def save_all(self) -> None:
        for collection_id in list(self._dirty):
            with self.locked(collection_id):
                index = self._indexes.get(collection_id)
                if index is not None:
                    index.save(self._path(collection_id))
                self._dirty.pop(collection_id, None)
