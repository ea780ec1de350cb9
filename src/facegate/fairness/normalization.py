"""Fairer thresholds without sensitive attributes at inference: cluster-based score
normalization.

Two options an operator can choose instead of the plain global threshold (one threshold set
from the pooled impostor scores at a target FMR, applied to everyone):

* **Worst-group threshold** (:func:`worst_group_threshold`, in
  :mod:`facegate.fairness.worst_group`): still one global threshold, but set so that the
  target FMR holds in *every* labelled group of the calibration data (same-group impostor
  pairs), not only pooled. Labels are read at calibration time only; at inference it is a
  single number.

* **Cluster-based score normalization** (:func:`fit_cluster_normalizer`, here), after Fair Score
  Normalization (FSN: P. Terhörst, J. N. Kolf, N. Damer, F. Kirchbuchner and A. Kuijper,
  "Post-comparison mitigation of demographic bias in face recognition using fair score
  normalization", Pattern Recognition Letters 140, 2020), in the form FairCal's reference code
  also evaluates (T. Salvador, S. Cairns, V. Voleti, N. Marshall and A. Oberman, "FairCal:
  Fairness Calibration for Face Verification", ICLR 2022):

  1. k-means over the calibration set's embeddings (numpy, seeded k-means++);
  2. for each cluster c, the threshold thr_c at the target FMR over the impostor pairs
     *touching* c (at least one face in c), and the global threshold thr_G over all impostors;
  3. a pair (a, b) scores s' = s - (thr_c(a) + thr_c(b)) / 2 + thr_G: each face's cluster
     moves the score by how much stricter or laxer its region of the face space needs to be;
  4. the global threshold is re-derived on the normalized impostor scores.

  FairCal proper replaces step 3 by a per-cluster calibration of scores into probabilities
  (beta calibration), combined by cluster sizes; FSN's additive offsets were chosen here
  because they keep the similarity scale, need no fitted curve per cluster (a small
  calibration set could not support one), and are one number per cluster that anyone can
  audit. Neither uses a demographic label: the clusters come from the embeddings alone, and
  only whether two faces show the same person (known in any calibration set) decides which
  pairs are impostors. :func:`fit_cluster_normalizer` has no parameter for group labels.

The number of clusters k is 20 by default (FSN used 100 on millions of pairs; FairCal 100 on
RFW and BFW), capped so that every cluster keeps at least ``min_impostors`` touching impostor
pairs, by default the rule-of-three count 3 / target (so each cluster's own threshold can
support the target): k-means is refitted with k - 1 until every cluster has them. With so
few impostors that even one cluster lacks them, k is 1 and the normalization is the identity.

The fitted :class:`ClusterNormalizer` is plain data (centroids, per-cluster thresholds and
offsets, the global thresholds, the model version and score scale) and round-trips through
:meth:`ClusterNormalizer.to_dict` / :meth:`ClusterNormalizer.from_dict`, so it can be stored
as a versioned artifact beside the similarity calibration. docs/fairness.md, "Fairer
thresholds", says when to use which and what neither can do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facegate.fairness.intervals import needed_trials
from facegate.fairness.kmeans import SEED, kmeans, squared_distances
from facegate.fairness.thresholds import reachable_count, threshold_at_fmr
from facegate.fairness.worst_group import (
    WorstGroupChoice,
    worst_group_threshold,
    worst_group_threshold_for,
)

__all__ = [
    "DEFAULT_CLUSTERS",
    "NORMALIZER_FORMAT",
    "SEED",
    "ClusterNormalizer",
    "WorstGroupChoice",
    "fit_cluster_normalizer",
    "kmeans",
    "worst_group_threshold",
    "worst_group_threshold_for",
]

DEFAULT_CLUSTERS = 20
NORMALIZER_FORMAT = "facegate-score-normalizer/1"


@dataclass(frozen=True, eq=False)
class ClusterNormalizer:
    """A fitted Fair Score Normalization (see the module docstring).

    ``centroids`` (k x d) place a face in a cluster (nearest centroid, Euclidean);
    ``cluster_thresholds[c]`` is thr_c, ``global_threshold`` thr_G (both on the raw scores, at
    ``target_fmr``); ``threshold`` is the global threshold re-derived on the normalized
    scores of the calibration set: accept a pair when :meth:`normalize` gives at least it.
    ``score_scale`` names the scores' scale (the similarity calibration's version), which the
    thresholds belong to, with ``model_version``.
    """

    model_version: str
    score_scale: str
    target_fmr: float
    centroids: np.ndarray
    cluster_thresholds: np.ndarray
    global_threshold: float
    threshold: float
    faces_per_cluster: tuple[int, ...]
    impostors_per_cluster: tuple[int, ...]
    clusters_requested: int
    min_impostors: int
    seed: int
    version: str = ""
    method: str = "fsn"
    note: str | None = None
    fit: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        centroids = np.array(self.centroids, dtype=np.float64)
        thresholds = np.array(self.cluster_thresholds, dtype=np.float64)
        if centroids.ndim != 2 or len(centroids) == 0:
            raise ValueError("centroids must be a non-empty k x d array")
        if thresholds.shape != (len(centroids),):
            raise ValueError("one cluster threshold per centroid is needed")
        if not (np.all(np.isfinite(centroids)) and np.all(np.isfinite(thresholds))):
            raise ValueError("centroids and thresholds must be finite")
        if not (math.isfinite(self.global_threshold) and math.isfinite(self.threshold)):
            raise ValueError("thresholds must be finite")
        for name in ("faces_per_cluster", "impostors_per_cluster"):
            counts = tuple(int(c) for c in getattr(self, name))
            if len(counts) != len(centroids):
                raise ValueError(f"{name} needs one count per cluster")
            object.__setattr__(self, name, counts)
        centroids.setflags(write=False)
        thresholds.setflags(write=False)
        object.__setattr__(self, "centroids", centroids)
        object.__setattr__(self, "cluster_thresholds", thresholds)
        object.__setattr__(self, "global_threshold", float(self.global_threshold))
        object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "target_fmr", float(self.target_fmr))

    @property
    def k(self) -> int:
        return len(self.centroids)

    @property
    def offsets(self) -> np.ndarray:
        """thr_c - thr_G per cluster: how much stricter (positive) a cluster's region is."""
        return self.cluster_thresholds - self.global_threshold

    def assign(self, embeddings: np.ndarray) -> np.ndarray:
        """The cluster of each embedding (nearest centroid)."""
        x = np.atleast_2d(np.asarray(embeddings, dtype=np.float64))
        if x.shape[1] != self.centroids.shape[1]:
            raise ValueError(
                f"embeddings have {x.shape[1]} dimensions, the centroids {self.centroids.shape[1]}"
            )
        return np.argmin(squared_distances(x, self.centroids), axis=1)

    def normalize_assigned(
        self, scores: np.ndarray, cluster_a: np.ndarray, cluster_b: np.ndarray
    ) -> np.ndarray:
        """s' = s - (thr_c(a) + thr_c(b)) / 2 + thr_G for pairs whose clusters are known."""
        offsets = self.offsets
        s = np.asarray(scores, dtype=np.float64)
        return s - (offsets[np.asarray(cluster_a)] + offsets[np.asarray(cluster_b)]) / 2.0

    def normalize(
        self, scores: np.ndarray | float, embedding_a: np.ndarray, embedding_b: np.ndarray
    ) -> np.ndarray:
        """Normalized scores of pairs given both faces' embeddings (one pair or many)."""
        return self.normalize_assigned(
            np.atleast_1d(scores), self.assign(embedding_a), self.assign(embedding_b)
        )

    def accepts(self, score: float, embedding_a: np.ndarray, embedding_b: np.ndarray) -> bool:
        """Whether one pair matches: its normalized score is at least :attr:`threshold`."""
        return bool(self.normalize(score, embedding_a, embedding_b)[0] >= self.threshold)

    def summary(self) -> dict[str, Any]:
        """Everything but the centroids: for reports."""
        out = self.to_dict()
        out.pop("centroids")
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready document; :meth:`from_dict` restores an identical normalizer."""
        return {
            "format": NORMALIZER_FORMAT,
            "method": self.method,
            "reference": "Fair Score Normalization (Terhörst et al., 2020)",
            "version": self.version,
            "model_version": self.model_version,
            "score_scale": self.score_scale,
            "target_fmr": self.target_fmr,
            "k": self.k,
            "clusters_requested": self.clusters_requested,
            "min_impostors": self.min_impostors,
            "seed": self.seed,
            "global_threshold": self.global_threshold,
            "threshold": self.threshold,
            "cluster_thresholds": self.cluster_thresholds.tolist(),
            "offsets": self.offsets.tolist(),
            "faces_per_cluster": list(self.faces_per_cluster),
            "impostors_per_cluster": list(self.impostors_per_cluster),
            "centroids": self.centroids.tolist(),
            "note": self.note,
            "fit": dict(self.fit),
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> ClusterNormalizer:
        if document.get("format") != NORMALIZER_FORMAT:
            raise ValueError(
                f"normalizer format {document.get('format')!r} is not {NORMALIZER_FORMAT}"
            )
        if document.get("method") != "fsn":
            raise ValueError(f"unknown normalization method {document.get('method')!r}")
        return cls(
            model_version=str(document["model_version"]),
            score_scale=str(document["score_scale"]),
            target_fmr=float(document["target_fmr"]),
            centroids=np.array(document["centroids"], dtype=np.float64),
            cluster_thresholds=np.array(document["cluster_thresholds"], dtype=np.float64),
            global_threshold=float(document["global_threshold"]),
            threshold=float(document["threshold"]),
            faces_per_cluster=tuple(document["faces_per_cluster"]),
            impostors_per_cluster=tuple(document["impostors_per_cluster"]),
            clusters_requested=int(document["clusters_requested"]),
            min_impostors=int(document["min_impostors"]),
            seed=int(document["seed"]),
            version=str(document.get("version", "")),
            note=document.get("note"),
            fit=dict(document.get("fit") or {}),
        )


def _touching_counts(labels_a: np.ndarray, labels_b: np.ndarray, k: int) -> np.ndarray:
    """Pairs with at least one side in each cluster."""
    same = labels_a == labels_b
    return (
        np.bincount(labels_a, minlength=k)
        + np.bincount(labels_b, minlength=k)
        - np.bincount(labels_a[same], minlength=k)
    )


def fit_cluster_normalizer(
    embeddings: np.ndarray,
    subjects: Sequence[Any] | np.ndarray,
    pair_a: np.ndarray,
    pair_b: np.ndarray,
    scores: np.ndarray,
    *,
    target_fmr: float,
    model_version: str,
    score_scale: str,
    clusters: int = DEFAULT_CLUSTERS,
    min_impostors: int | None = None,
    seed: int = SEED,
    version: str = "",
) -> ClusterNormalizer:
    """Fit Fair Score Normalization on a calibration set (see the module docstring).

    ``embeddings[i]`` is face i's descriptor and ``subjects[i]`` the person it shows (only to
    tell impostor pairs from mated ones; no demographic label is read, there is no parameter
    for one). ``pair_a``, ``pair_b`` and ``scores`` are the compared pairs (face indices) and
    their similarity scores on the scale named by ``score_scale``. ``clusters`` is the k asked
    for; it is lowered until every cluster has at least ``min_impostors`` (default
    3 / target) impostor pairs touching it.
    """
    target = float(target_fmr)
    x = np.asarray(embeddings, dtype=np.float64)
    subj = np.asarray(subjects)
    ia, ib = np.asarray(pair_a, dtype=np.int64), np.asarray(pair_b, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(subj):
        raise ValueError("one subject per embedding row is needed")
    if not (len(ia) == len(ib) == len(s)):
        raise ValueError("pair_a, pair_b and scores must have the same length")
    if not np.all(np.isfinite(s)):
        raise ValueError("every score must be finite")
    if clusters < 1:
        raise ValueError("clusters must be at least 1")
    needed = needed_trials(target) if min_impostors is None else int(min_impostors)
    if needed < reachable_count(target):
        raise ValueError(
            f"min_impostors {needed} is below 1 / target = {reachable_count(target)}: a "
            f"cluster's threshold could not show the target"
        )
    impostor = subj[ia] != subj[ib]
    imp_a, imp_b, imp_s = ia[impostor], ib[impostor], s[impostor]
    pooled = threshold_at_fmr(imp_s, target)
    if pooled.threshold is None:
        raise ValueError("no impostor pairs: a normalization cannot be fitted")
    global_threshold = pooled.threshold

    k = max(1, min(int(clusters), len(x)))
    # a-priori cap: a cluster of n / k faces touches at most (n / k) * n impostor pairs
    while k > 1 and (len(x) / k) * len(x) < needed:
        k -= 1
    attempts = []
    while True:
        centroids, labels, inertia = kmeans(x, k, seed=seed)
        k = len(centroids)
        counts = _touching_counts(labels[imp_a], labels[imp_b], k)
        attempts.append({"k": k, "fewest_impostors": int(counts.min())})
        if k == 1 or counts.min() >= needed:
            break
        k -= 1
    note = None
    if k == 1:
        note = (
            f"one cluster only: the calibration set's {len(imp_s)} impostor pairs cannot give "
            f"several clusters {needed} impostor pairs each; the normalization is the identity"
        )
    thresholds = np.empty(k)
    for c in range(k):
        touching = (labels[imp_a] == c) | (labels[imp_b] == c)
        choice = threshold_at_fmr(imp_s[touching], target)
        thresholds[c] = global_threshold if choice.threshold is None else choice.threshold
    if k == 1:
        thresholds[:] = global_threshold
    offsets = thresholds - global_threshold
    normalized = imp_s - (offsets[labels[imp_a]] + offsets[labels[imp_b]]) / 2.0
    renormalized = threshold_at_fmr(normalized, target)
    assert renormalized.threshold is not None
    return ClusterNormalizer(
        model_version=model_version,
        score_scale=score_scale,
        target_fmr=target,
        centroids=centroids,
        cluster_thresholds=thresholds,
        global_threshold=global_threshold,
        threshold=renormalized.threshold,
        faces_per_cluster=tuple(int(c) for c in np.bincount(labels, minlength=k)),
        impostors_per_cluster=tuple(int(c) for c in counts),
        clusters_requested=int(clusters),
        min_impostors=needed,
        seed=int(seed),
        version=version,
        note=note,
        fit={
            "faces": len(x),
            "subjects": len(set(subj.tolist())),
            "impostor_pairs": len(imp_s),
            "inertia": inertia,
            "k_tried": attempts,
            "global": pooled.to_dict(),
            "normalized_global": renormalized.to_dict(),
        },
    )
