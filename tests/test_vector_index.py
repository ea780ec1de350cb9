"""VectorIndex on real FAISS with seeded synthetic descriptors (exact and HNSW kinds)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from facegate.gallery.index import IndexCorrupt, VectorIndex
from facegate.gallery.index_state import EMPTY_HIGH_WATER, IndexState, checksum_of
from facegate.gallery.indexes import sync_with_sql

DIM = 128
THRESHOLD = 2000  # approximate_from in these tests, so HNSW builds stay fast


def vectors(n: int, seed: int = 0) -> np.ndarray:
    """n descriptor-like vectors: a shared mean plus per-vector spread (norm about 1)."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(0.0, 0.08, DIM)
    return (mean + rng.normal(0.0, 0.05, (n, DIM))).astype(np.float32)


def noisy(x: np.ndarray, seed: int = 1, scale: float = 0.01) -> np.ndarray:
    """Queries near stored vectors: the same face seen again."""
    rng = np.random.default_rng(seed)
    return (x + rng.normal(0.0, scale, x.shape)).astype(np.float32)


def brute_force(data: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int):
    """True k nearest (ids, L2 distances) by numpy, in float64."""
    dist = np.linalg.norm(data.astype(np.float64) - query.astype(np.float64), axis=1)
    order = np.argsort(dist, kind="stable")[:k]
    return ids[order], dist[order]


def make(n: int, kind: str, seed: int = 0) -> tuple[VectorIndex, np.ndarray, np.ndarray]:
    """An index of n vectors with ids 1..n of the requested kind."""
    data = vectors(n, seed)
    ids = np.arange(1, n + 1, dtype=np.int64)
    index = VectorIndex.build(ids, data, approximate_from=THRESHOLD if kind == "hnsw" else 10**9)
    assert index.kind == kind
    return index, ids, data


def test_exact_search_is_the_true_nearest_with_l2_distances() -> None:
    index, ids, data = make(800, "exact")
    queries = noisy(data[:25], scale=0.03)
    results = index.search_many(queries, 5)
    for query, (got_ids, got_dist) in zip(queries, results, strict=True):
        want_ids, want_dist = brute_force(data, ids, query, 5)
        np.testing.assert_array_equal(got_ids, want_ids)
        np.testing.assert_allclose(got_dist, want_dist, atol=1e-4)
        assert got_ids.dtype == np.int64
        assert np.all(np.diff(got_dist) >= 0)
    single_ids, single_dist = index.search(queries[0], 5)
    np.testing.assert_array_equal(single_ids, results[0][0])
    np.testing.assert_allclose(single_dist, results[0][1], atol=1e-5)


def test_at_most_k_and_empty_index() -> None:
    empty = VectorIndex()
    got_ids, got_dist = empty.search(vectors(1)[0], 3)
    assert got_ids.size == 0 and got_dist.size == 0 and got_ids.dtype == np.int64
    assert empty.state == IndexState(0, EMPTY_HIGH_WATER, checksum_of([]))
    small, _, data = make(3, "exact")
    assert small.search(data[0], 10)[0].size == 3
    with pytest.raises(ValueError):
        small.search(data[0], 0)


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_removed_ids_are_never_returned(kind: str) -> None:
    index, ids, data = make(2500 if kind == "hnsw" else 600, kind)
    gone = ids[::13]  # under 10%, so the hnsw kind keeps them as tombstones
    assert index.remove(gone) == gone.size
    assert index.remove(gone) == 0  # already gone
    if kind == "hnsw":
        assert index.deleted_count == gone.size
    assert len(index) == ids.size - gone.size
    queries = data[gone[:100] - 1]  # the removed vectors themselves: worst case
    for got_ids, _ in index.search_many(queries, 10):
        assert got_ids.size == 10
        assert not np.isin(got_ids, gone).any()
    assert index.state == IndexState.of(np.setdiff1d(ids, gone))


@pytest.mark.parametrize("bad", [[5], [10], [11, 11], [13, 12]])
def test_add_requires_increasing_ids(bad: list[int]) -> None:
    index, _, _ = make(10, "exact")
    with pytest.raises(ValueError):
        index.add(np.array(bad, dtype=np.int64), vectors(len(bad), seed=3))
    assert len(index) == 10 and index.state.high_water == 10


def test_add_rejects_mismatched_shapes() -> None:
    index = VectorIndex()
    with pytest.raises(ValueError):
        index.add(np.array([1, 2]), vectors(3))
    with pytest.raises(ValueError):
        index.add(np.array([1]), np.zeros((1, 64), dtype=np.float32))


def test_switches_to_hnsw_at_threshold_with_recall() -> None:
    data = vectors(THRESHOLD + 500, seed=5)
    ids = np.arange(1, data.shape[0] + 1, dtype=np.int64)
    index = VectorIndex(approximate_from=THRESHOLD)
    index.add(ids[: THRESHOLD - 1], data[: THRESHOLD - 1])
    assert index.kind == "exact"
    index.add(ids[THRESHOLD - 1 : THRESHOLD], data[THRESHOLD - 1 : THRESHOLD])
    assert index.kind == "hnsw" and len(index) == THRESHOLD
    index.add(ids[THRESHOLD:], data[THRESHOLD:])
    assert index.state == IndexState.of(ids)
    rng = np.random.default_rng(6)
    picked = rng.choice(ids.size, 200, replace=False)
    queries = noisy(data[picked], seed=7, scale=0.02)
    hits = sum(
        int(got[0].size > 0 and got[0][0] == brute_force(data, ids, q, 1)[0][0])
        for q, got in zip(queries, index.search_many(queries, 1), strict=True)
    )
    assert hits / 200 >= 0.99


def test_compaction_after_ten_percent_deleted() -> None:
    index, ids, data = make(2500, "hnsw")
    first = ids[:200]
    index.remove(first)
    assert index.deleted_count == 200  # 8%: tombstones
    second = ids[200:300:2]
    index.remove(second)  # 250 of 2500 = 10%: not yet "exceeds"
    assert index.deleted_count == 250
    index.remove([ids[301]])
    assert index.deleted_count == 0 and index.kind == "hnsw"
    gone = np.concatenate([first, second, [ids[301]]])
    live = np.setdiff1d(ids, gone)
    assert len(index) == live.size and index.state == IndexState.of(live)
    queries = noisy(data[:150], seed=8, scale=0.02)
    live_data = data[live - 1]
    hits = 0
    for q, (got_ids, _) in zip(queries, index.search_many(queries, 5), strict=True):
        assert not np.isin(got_ids, gone).any()
        hits += int(got_ids[0] == brute_force(live_data, live, q, 1)[0][0])
    assert hits / 150 >= 0.99


def test_readding_above_a_removed_maximum() -> None:
    index, ids, data = make(2500, "hnsw")
    index.remove([2500, 2499])
    assert index.state.high_water == 2498
    index.add(np.array([2499]), data[:1])  # reuses a tombstoned id: compacts first
    assert index.deleted_count == 0
    got_ids, got_dist = index.search(data[0], 2)
    assert set(got_ids) == {1, 2499} and got_dist[0] < 1e-3
    assert index.state == IndexState.of(np.append(ids[:2498], 2499))


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_save_load_round_trip(kind: str, tmp_path: Path) -> None:
    index, ids, data = make(2300 if kind == "hnsw" else 700, kind)
    index.remove(ids[5:60:3])
    path = tmp_path / "c.faiss"
    index.save(path)
    loaded = VectorIndex.load(path)
    assert loaded.state == index.state and loaded.kind == kind and len(loaded) == len(index)
    assert loaded.deleted_count == index.deleted_count
    queries = noisy(data[:50], seed=9, scale=0.03)
    for (a_ids, a_dist), (b_ids, b_dist) in zip(
        index.search_many(queries, 7), loaded.search_many(queries, 7), strict=True
    ):
        np.testing.assert_array_equal(a_ids, b_ids)
        np.testing.assert_array_equal(a_dist, b_dist)
    assert [p.name for p in tmp_path.iterdir()] == ["c.faiss"]  # no temp file left behind


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip", "empty"])
def test_damaged_file_is_corrupt(damage: str, tmp_path: Path) -> None:
    index, _, _ = make(300, "exact")
    path = tmp_path / "c.faiss"
    index.save(path)
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "garbage":
        raw = bytearray(np.random.default_rng(0).integers(0, 256, len(raw), dtype=np.uint8))
    elif damage == "flip":
        raw[len(raw) // 2] ^= 0x40  # inside the vectors: only the CRC notices
    else:
        raw = bytearray()
    path.write_bytes(bytes(raw))
    with pytest.raises(IndexCorrupt):
        VectorIndex.load(path)


def test_load_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        VectorIndex.load(tmp_path / "absent.faiss")


class Rows:
    """A stand-in for SQL: the rows and how often they were read."""

    def __init__(self, ids: np.ndarray, data: np.ndarray) -> None:
        self.ids, self.data, self.calls = ids, data, 0

    def __call__(self) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        return self.ids, self.data


def test_sync_with_sql(tmp_path: Path) -> None:
    data = vectors(400, seed=11)
    ids = np.arange(10, 410, dtype=np.int64)
    rows = Rows(ids, data)
    expected = IndexState(count=400, high_water=409, checksum=checksum_of(ids.tolist()))
    path = tmp_path / "c.faiss"

    index, outcome = sync_with_sql(path, expected, rows, approximate_from=THRESHOLD)
    assert outcome == "rebuilt:missing" and rows.calls == 1 and path.exists()
    assert index.state == expected

    index, outcome = sync_with_sql(path, expected, rows, approximate_from=THRESHOLD)
    assert outcome == "loaded" and rows.calls == 1 and index.state == expected

    stale = IndexState(count=400, high_water=410, checksum=expected.checksum)
    _, outcome = sync_with_sql(path, stale, rows, approximate_from=THRESHOLD)
    assert outcome == "rebuilt:stale" and rows.calls == 2

    path.write_bytes(path.read_bytes()[:-100])
    index, outcome = sync_with_sql(path, expected, rows, approximate_from=THRESHOLD)
    assert outcome == "rebuilt:corrupt" and rows.calls == 3 and index.state == expected
    assert VectorIndex.load(path).state == expected


def test_checksum_of_matches_state() -> None:
    index, ids, _ = make(50, "exact")
    index.remove([7, 50])
    live = [int(i) for i in ids if i not in (7, 50)]
    assert checksum_of(reversed(live)) == index.state.checksum
    assert checksum_of(np.array(live)) == index.state.checksum
    assert index.state == IndexState(48, 49, checksum_of(live))


def test_concurrent_mutations_and_searches() -> None:
    index, ids, data = make(2500, "hnsw")
    extra = vectors(200, seed=12)
    removed: list[int] = []
    errors: list[str] = []

    def remover() -> None:
        for start in range(0, 200, 10):
            batch = ids[start : start + 10]
            index.remove(batch)
            removed.extend(int(i) for i in batch)

    def adder() -> None:
        for i in range(200):
            index.add(np.array([3000 + i]), extra[i : i + 1])

    def searcher(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(150):
            gone = set(removed)
            got_ids, _ = index.search(data[rng.integers(0, 200)], 5)
            if gone & set(got_ids.tolist()):
                errors.append(f"returned removed ids {gone & set(got_ids.tolist())}")

    threads = [threading.Thread(target=f) for f in (remover, adder)]
    threads += [threading.Thread(target=searcher, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(index) == 2500 - 200 + 200
    assert index.state == IndexState.of(np.concatenate([ids[200:], np.arange(3000, 3200)]))
