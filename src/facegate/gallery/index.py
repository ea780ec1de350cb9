"""One collection's FAISS index: a disposable projection of the SQL ``faces`` rows.

SQL is the system of record. Each row is ``(row_id, vector)`` where ``row_id`` is a positive,
strictly increasing int64 assigned on insert and ``vector`` a 128-d float32 dlib descriptor.
The index can always be rebuilt from those rows, so everything here is about being fast,
never returning a deleted face, and noticing when the persisted copy no longer matches SQL.

Index kinds
    ``exact``: ``IndexIDMap2(IndexFlatL2)``; brute force, always the true nearest neighbours.
    Used while the collection holds fewer than ``approximate_from`` faces.

    ``hnsw``: ``IndexIDMap2(IndexHNSWFlat(dim, M=32))`` with ``efConstruction=200``. Used from
    ``approximate_from`` faces on (the switch happens inside :meth:`VectorIndex.add` when a
    batch crosses the threshold, by rebuilding from the exact index's vectors).

    ``efSearch`` defaults to 512, measured with ``bench/search.py`` (results in
    ``bench/results/search.json``) on synthetic dlib-like descriptors, 5 per person, queries
    being new photos of stored people, one query at a time on one core. With the sparser
    graph of efConstruction 80, recall@1 against exact search (same top id) at 1M faces
    stopped at 0.986 even at efSearch 2048; with 200 it is 0.959 / 0.984 / 0.990 / 0.994 at
    efSearch 128 / 256 / 512 / 1024 (k=1 p99 1.5 / 3.1 / 6.2 / 12 ms on a busy machine), and
    "top hit is the right person" is 0.999 at 512. Hence 512: the 1M target (p99 < 10 ms,
    recall@1 >= 0.99) is met. The price is the build: ~17 minutes for 1M faces on one quiet
    core (it was ~6 with efConstruction 80). Lower efSearch for small collections.

Removal
    FAISS's HNSW cannot delete (``remove_ids`` raises "not implemented", and ``IndexIDMap2``
    passes the call down). So the hnsw kind keeps a set of deleted ids ("tombstones"). They
    stay in the graph, where they still help navigation, and every search passes FAISS an
    ``IDSelectorNot(IDSelectorBatch(deleted))``: HNSW then never puts them in the result
    heap, so a search still returns up to ``k`` live results without over-fetching. Results
    are filtered once more in Python as a second line of defence. When the tombstones exceed
    10% of the vectors in the graph, the index is compacted: rebuilt from the live vectors
    (which costs a full HNSW build, ~17 minutes on one core at a million faces, and holds the
    lock meanwhile). Tombstoned recall was checked at 1M with 9% deleted (0.98 at efSearch
    1024, as without deletions; no deleted id returned). The exact kind removes for real
    (``IndexFlat`` supports it). Once HNSW, an index stays HNSW (even when deletions take it
    below the threshold) until rebuilt by :meth:`VectorIndex.build`.

State
    :class:`~facegate.gallery.index_state.IndexState` (live count, highest live row id, sha256
    of the sorted live ids) is what start-up compares with SQL. If a new id is not above a
    tombstoned one (SQLite may reuse the largest rowid after a delete), the index is
    compacted before the add so stored ids stay ascending and unique.

Persistence
    :meth:`VectorIndex.save` and :meth:`VectorIndex.load` use the file format of
    :mod:`facegate.gallery.index_file`; :func:`facegate.gallery.indexes.sync_with_sql` decides
    at start-up whether the saved file can be used or the index is rebuilt from SQL.

Thread-safety: every method takes the instance's ``threading.RLock``; FAISS's own OpenMP
thread count is left to the caller.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

from facegate.gallery.index_file import (
    FORMAT_VERSION,
    IndexCorrupt,
    check_structure,
    faiss_runtime,
    read_file,
    sync_directory,
    write_file,
)
from facegate.gallery.index_state import (
    EMPTY_HIGH_WATER,
    IndexState,
    as_ids,
    checksum_sorted,
    member,
)

log = logging.getLogger(__name__)

Kind = Literal["exact", "hnsw"]

DEFAULT_DIM = 128
DEFAULT_APPROXIMATE_FROM = 100_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
DEFAULT_EF_SEARCH = 512  # measured: see the module docstring and bench/search.py
COMPACT_FRACTION = 0.10


def _as_vectors(vectors: np.ndarray, dim: int) -> np.ndarray:
    """A C-contiguous (n, dim) float32 array of finite values, else ValueError."""
    arr = np.ascontiguousarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"vectors must have shape (n, {dim}), got {np.shape(vectors)}")
    if not np.isfinite(arr).all():
        raise ValueError("vectors contain NaN or infinity")
    return arr


def _view(vec: Any, count: int, dtype: type[np.generic]) -> np.ndarray:
    """A zero-copy numpy view of a FAISS std::vector (valid until the index changes)."""
    if count == 0:
        return np.zeros(0, dtype=dtype)
    return faiss.rev_swig_ptr(vec.data(), count)


class VectorIndex:
    """One collection's index: exact (``IndexFlatL2`` in an ``IndexIDMap2``) below
    ``approximate_from`` vectors, HNSW (``IndexHNSWFlat``, M=32, efConstruction=200,
    ``ef_search`` default 512: see the module docstring for the measurements behind it) in an
    ``IndexIDMap2`` from then on.

    FAISS HNSW does not support ``remove_ids``, so removal on the hnsw kind records the id in
    a deleted set. Searches exclude those ids inside FAISS (an ``IDSelectorNot`` selector, so
    no over-fetching is needed and ``k`` live results still come back) and again in Python.
    When deleted ids exceed 10% of the graph, the index is compacted (rebuilt from the live
    vectors). Ids must be positive and each batch strictly greater than ``high_water``; the
    stored id order is therefore ascending, which the state and the removal rely on.
    """

    def __init__(
        self,
        dim: int = DEFAULT_DIM,
        approximate_from: int = DEFAULT_APPROXIMATE_FROM,
        ef_search: int = DEFAULT_EF_SEARCH,
    ) -> None:
        if dim < 1 or approximate_from < 1 or ef_search < 1:
            raise ValueError("dim, approximate_from and ef_search must be positive")
        self._dim = dim
        self._approximate_from = approximate_from
        self._ef_search = ef_search
        self._lock = threading.RLock()
        self._kind: Kind = "exact"
        self._index: Any = self._new_index("exact")
        self._deleted: set[int] = set()
        self._tombstones: np.ndarray | None = None  # sorted array of _deleted, cached
        self._selector: tuple[Any, Any] | None = None  # FAISS selector excluding them, cached
        self._high_water = EMPTY_HIGH_WATER
        self._checksum: str | None = None

    # ----------------------------------------------------------------- properties

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self._dim

    @property
    def kind(self) -> Kind:
        """``"exact"`` or ``"hnsw"``."""
        return self._kind

    @property
    def ef_search(self) -> int:
        """HNSW search breadth (ignored by the exact kind)."""
        return self._ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        if value < 1:
            raise ValueError("ef_search must be positive")
        with self._lock:
            self._ef_search = value

    @property
    def approximate_from(self) -> int:
        """Vector count from which the index is HNSW."""
        return self._approximate_from

    @approximate_from.setter
    def approximate_from(self, value: int) -> None:
        if value < 1:
            raise ValueError("approximate_from must be positive")
        with self._lock:
            self._approximate_from = value

    @property
    def deleted_count(self) -> int:
        """Tombstoned ids still in the HNSW graph (always 0 for the exact kind)."""
        return len(self._deleted)

    @property
    def state(self) -> IndexState:
        """Live count, highest live id and checksum of the live ids, as SQL would compute."""
        with self._lock:
            if self._checksum is None:
                self._checksum = checksum_sorted(self._live_ids())
            return IndexState(len(self), self._high_water, self._checksum)

    def __len__(self) -> int:
        with self._lock:
            return int(self._index.ntotal) - len(self._deleted)

    # ----------------------------------------------------------------- mutations

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under ids strictly increasing and greater than ``high_water``.

        Switches from exact to HNSW when the live count reaches ``approximate_from``.
        """
        ids = as_ids(ids)
        vectors = _as_vectors(vectors, self._dim)
        if ids.size != vectors.shape[0]:
            raise ValueError(f"{ids.size} ids for {vectors.shape[0]} vectors")
        if ids.size == 0:
            return
        if ids.size > 1 and not bool(np.all(np.diff(ids) > 0)):
            raise ValueError("ids must be strictly increasing within a batch")
        with self._lock:
            if int(ids[0]) <= self._high_water:
                raise ValueError(
                    f"id {int(ids[0])} is not greater than the high-water mark {self._high_water}"
                )
            if self._deleted and int(ids[0]) <= max(self._deleted):
                self._compact()  # keep the stored ids ascending and free of tombstones
            if self._kind == "exact" and len(self) + ids.size >= self._approximate_from:
                old_ids, old_vectors = self._live_rows()
                self._rebuild(
                    np.concatenate([old_ids, ids]), np.concatenate([old_vectors, vectors]), "hnsw"
                )
            else:
                self._index.add_with_ids(vectors, ids)
            self._high_water = int(ids[-1])
            self._checksum = None

    def remove(self, ids: Iterable[int]) -> int:
        """Remove ids; returns how many were present. Unknown ids are ignored."""
        wanted = np.unique(as_ids(ids))
        with self._lock:
            present = self._present(wanted)
            if present.size == 0:
                return 0
            if self._kind == "exact":
                self._index.remove_ids(faiss.IDSelectorBatch(present))
            else:
                self._deleted.update(int(i) for i in present)
                self._forget_tombstones()
                if len(self._deleted) > COMPACT_FRACTION * self._index.ntotal:
                    self._compact()
            if int(present[-1]) == self._high_water:
                live = self._live_ids()
                self._high_water = int(live[-1]) if live.size else EMPTY_HIGH_WATER
            self._checksum = None
            return int(present.size)

    def compact(self) -> None:
        """Rebuild the HNSW graph without its deleted ids (a no-op when there are none)."""
        with self._lock:
            self._compact()

    # ----------------------------------------------------------------- searches

    def search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The at most ``k`` nearest live ids (int64) and their L2 (not squared) distances,
        ascending; empty arrays when the index is empty."""
        query = _as_vectors(vector, self._dim)
        if query.shape[0] != 1:
            raise ValueError("search takes one vector; use search_many for several")
        return self.search_many(query, k)[0]

    def search_many(self, vectors: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`search` for each row of ``vectors`` (one FAISS call for all of them)."""
        if k < 1:
            raise ValueError("k must be at least 1")
        queries = _as_vectors(vectors, self._dim)
        with self._lock:
            k_eff = min(k, len(self))
            if k_eff == 0:
                empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
                return [(empty[0].copy(), empty[1].copy()) for _ in range(queries.shape[0])]
            params, _keep_alive = self._search_params(k_eff)
            squared, labels = self._index.search(queries, k_eff, params=params)
            deleted = self._tombstone_array() if self._deleted else None
        return [_clean_row(squared[i], labels[i], deleted) for i in range(queries.shape[0])]

    # ----------------------------------------------------------------- persistence

    def save(self, path: Path) -> None:
        """Write the index atomically: temp file in the same directory, fsync, os.replace."""
        path = Path(path)
        with self._lock:
            write_file(path, self._index, self._header)
        sync_directory(path.parent)

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        """Read a file written by :meth:`save`. FileNotFoundError when absent; IndexCorrupt
        on anything unreadable, truncated or inconsistent."""
        path = Path(path)
        index, header = read_file(path)
        try:
            return cls._from_parts(index, header)
        except (IndexCorrupt, ValueError, KeyError, TypeError) as exc:
            raise IndexCorrupt(f"{path}: inconsistent index: {exc}") from exc

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, **kw: Any) -> VectorIndex:
        """A new index holding exactly these rows (any order; ids unique and positive)."""
        index = cls(**kw)
        ids = as_ids(ids)
        vectors = _as_vectors(vectors, index.dim) if ids.size else np.zeros((0, index.dim), "f4")
        if ids.size != vectors.shape[0]:
            raise ValueError(f"{ids.size} ids for {vectors.shape[0]} vectors")
        order = np.argsort(ids, kind="stable")
        ids, vectors = ids[order], vectors[order]
        if ids.size and (ids[0] <= EMPTY_HIGH_WATER or not bool(np.all(np.diff(ids) > 0))):
            raise ValueError("ids must be unique and positive")
        kind: Kind = "hnsw" if ids.size >= index.approximate_from else "exact"
        with index._lock:
            index._rebuild(ids, vectors, kind)
            index._high_water = int(ids[-1]) if ids.size else EMPTY_HIGH_WATER
        return index

    # ----------------------------------------------------------------- internals

    def _new_index(self, kind: Kind) -> Any:
        if kind == "exact":
            return faiss.IndexIDMap2(faiss.IndexFlatL2(self._dim))
        hnsw = faiss.IndexHNSWFlat(self._dim, HNSW_M)
        hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        hnsw.hnsw.efSearch = self._ef_search
        return faiss.IndexIDMap2(hnsw)

    def _rebuild(self, ids: np.ndarray, vectors: np.ndarray, kind: Kind) -> None:
        """Replace the FAISS index by a fresh one of ``kind`` holding these (sorted) rows."""
        index = self._new_index(kind)
        if ids.size:
            index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        self._index, self._kind = index, kind
        self._deleted.clear()
        self._forget_tombstones()
        self._checksum = None

    def _compact(self) -> None:
        if not self._deleted:
            return
        ids, vectors = self._live_rows()
        log.info(
            "compacting %s index: %d deleted of %d",
            self._kind,
            len(self._deleted),
            self._index.ntotal,
        )
        self._rebuild(ids, vectors, self._kind)

    def _stored_ids(self) -> np.ndarray:
        """Every id in the FAISS index, tombstones included (ascending), as a view."""
        return _view(self._index.id_map, int(self._index.ntotal), np.int64)

    def _stored_vectors(self) -> np.ndarray:
        """Every vector in the FAISS index, in id order, as a (n, dim) float32 view."""
        inner: Any = faiss.downcast_index(self._index.index)
        flat: Any = faiss.downcast_index(inner.storage) if self._kind == "hnsw" else inner
        n = int(flat.ntotal)
        raw = _view(flat.codes, n * self._dim * 4, np.uint8)
        return raw.view(np.float32).reshape(n, self._dim)

    def _tombstone_array(self) -> np.ndarray:
        """The deleted ids as a sorted int64 array (cached until the next removal)."""
        if self._tombstones is None:
            self._tombstones = np.sort(np.fromiter(self._deleted, dtype=np.int64))
        return self._tombstones

    def _forget_tombstones(self) -> None:
        self._tombstones = None
        self._selector = None

    def _live_mask(self) -> np.ndarray | None:
        if not self._deleted:
            return None
        return ~member(self._stored_ids(), self._tombstone_array())

    def _live_ids(self) -> np.ndarray:
        """Copy of the live ids, ascending."""
        mask = self._live_mask()
        stored = self._stored_ids()
        return stored.copy() if mask is None else stored[mask]

    def _live_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the live ids and vectors, ascending by id."""
        mask = self._live_mask()
        ids, vectors = self._stored_ids(), self._stored_vectors()
        if mask is None:
            return ids.copy(), vectors.copy()
        return ids[mask], vectors[mask]

    def _present(self, wanted: np.ndarray) -> np.ndarray:
        """The ids of ``wanted`` that are live in the index (stored and not deleted)."""
        found = wanted[member(wanted, self._stored_ids())]
        if self._deleted:
            found = found[~member(found, self._tombstone_array())]
        return found

    def _search_params(self, k: int) -> tuple[Any, tuple[Any, ...]]:
        """Fresh search parameters (FAISS's IDMap mutates them during a search, so they are
        never shared) plus the objects they point to, which must outlive the search."""
        if self._kind == "exact":
            return None, ()
        if self._deleted and self._selector is None:
            batch = faiss.IDSelectorBatch(self._tombstone_array())
            self._selector = (faiss.IDSelectorNot(batch), batch)
        params = faiss_runtime.SearchParametersHNSW()
        params.efSearch = max(self._ef_search, k)
        if self._selector is not None:
            params.sel = self._selector[0]
        return params, self._selector or ()

    def _header(self, payload_size: int, payload_crc: int) -> dict[str, Any]:
        state = self.state
        return {
            "format_version": FORMAT_VERSION,
            "kind": self._kind,
            "dim": self._dim,
            "approximate_from": self._approximate_from,
            "ef_search": self._ef_search,
            "count": state.count,
            "high_water": state.high_water,
            "checksum": state.checksum,
            "deleted": sorted(self._deleted),
            "payload_size": payload_size,
            "payload_crc32": payload_crc,
            "faiss_version": faiss.__version__,
        }

    @classmethod
    def _from_parts(cls, index: Any, header: dict[str, Any]) -> VectorIndex:
        """Check a freshly read FAISS index against its header and wrap it."""
        kind = header["kind"]
        if kind not in ("exact", "hnsw"):
            raise IndexCorrupt(f"unknown kind {kind!r}")
        obj = cls(int(header["dim"]), int(header["approximate_from"]), int(header["ef_search"]))
        check_structure(index, kind, obj.dim)
        if kind == "hnsw":
            hnsw: Any = faiss.downcast_index(index.index)
            hnsw.hnsw.efSearch = obj._ef_search
        obj._index, obj._kind = index, kind
        stored = obj._stored_ids()
        if stored.size and (stored[0] <= 0 or not bool(np.all(np.diff(stored) > 0))):
            raise IndexCorrupt("stored ids are not positive and ascending")
        deleted = {int(i) for i in header["deleted"]}
        if deleted and (
            kind == "exact" or obj._present(np.array(sorted(deleted))).size != len(deleted)
        ):
            raise IndexCorrupt("deleted ids are not in the index")
        obj._deleted = deleted
        obj._forget_tombstones()
        live = obj._live_ids()
        obj._high_water = int(live[-1]) if live.size else EMPTY_HIGH_WATER
        expected = IndexState(int(header["count"]), int(header["high_water"]), header["checksum"])
        if obj.state != expected:
            raise IndexCorrupt(f"index holds {obj.state}, header says {expected}")
        return obj


def _clean_row(
    squared: np.ndarray, labels: np.ndarray, deleted: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Drop FAISS's -1 padding and any deleted id; squared L2 to L2."""
    keep = labels >= 0
    if deleted is not None:
        keep &= ~member(labels, deleted)
    ids = labels[keep].astype(np.int64, copy=True)
    dist = np.sqrt(np.maximum(squared[keep], 0.0)).astype(np.float32, copy=False)
    return ids, dist
