"""k-means for the cluster-based score normalization: Lloyd's algorithm with k-means++
seeding, in numpy, deterministic for a seed."""

from __future__ import annotations

import numpy as np

__all__ = ["SEED", "kmeans", "squared_distances"]

SEED = 20260610
"""The default seed of the k-means starts (and of the normalization fitted with them)."""


def squared_distances(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of every row of ``x`` to every centroid (n x k)."""
    d = (
        np.einsum("ij,ij->i", x, x)[:, None]
        - 2.0 * x @ centroids.T
        + np.einsum("ij,ij->i", centroids, centroids)[None, :]
    )
    return np.maximum(d, 0.0)


def _plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur and Vassilvitskii, 2007): each next centre is drawn with
    probability proportional to the squared distance to the nearest centre so far."""
    n = len(x)
    chosen = [int(rng.integers(n))]
    nearest = squared_distances(x, x[chosen])[:, 0]
    for _ in range(1, k):
        total = float(nearest.sum())
        if total <= 0.0:  # every point coincides with a centre: cannot happen with k <= distinct
            break
        index = int(rng.choice(n, p=nearest / total))
        chosen.append(index)
        nearest = np.minimum(nearest, squared_distances(x, x[[index]])[:, 0])
    return x[chosen].copy()


def _lloyd(
    x: np.ndarray, centroids: np.ndarray, max_iter: int
) -> tuple[np.ndarray, np.ndarray, float]:
    labels = np.full(len(x), -1)
    for _ in range(max_iter):
        d = squared_distances(x, centroids)
        new = np.argmin(d, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        for c in range(len(centroids)):
            members = labels == c
            if members.any():
                centroids[c] = x[members].mean(axis=0)
            else:  # an empty cluster takes the point farthest from its own centre
                far = int(np.argmax(d[np.arange(len(x)), labels]))
                centroids[c] = x[far]
                labels[far] = c
    d = squared_distances(x, centroids)
    labels = np.argmin(d, axis=1)
    inertia = float(d[np.arange(len(x)), labels].sum())
    return centroids, labels, inertia


def kmeans(
    x: np.ndarray, k: int, *, seed: int = SEED, n_init: int = 4, max_iter: int = 300
) -> tuple[np.ndarray, np.ndarray, float]:
    """Lloyd's k-means with k-means++ seeding, the best of ``n_init`` seeded starts (lowest
    within-cluster sum of squares). Returns (centroids, labels, inertia). Deterministic for a
    seed. ``k`` is capped at the number of distinct points."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError("k-means needs a non-empty two-dimensional array")
    if not np.all(np.isfinite(x)):
        raise ValueError("embeddings must be finite")
    k = max(1, min(int(k), len(np.unique(x, axis=0))))
    rng = np.random.default_rng(seed)
    best: tuple[np.ndarray, np.ndarray, float] | None = None
    for _ in range(max(1, n_init)):
        centroids, labels, inertia = _lloyd(x, _plus_plus(x, k, rng), max_iter)
        if best is None or inertia < best[2]:
            best = (centroids, labels, inertia)
    assert best is not None
    return best
