"""The result types of the fairness measures (docs/fairness-metrics.md).

Small frozen dataclasses with a ``to_dict()`` for JSON. A value that is not defined (a zero
mean in Gini, a zero rate in IR, fewer than two groups, a group without trials) is a
:class:`Measure` or :class:`Rate` whose ``value`` is ``None`` and whose ``reason`` says why:
never ``nan``, never a made-up number.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "BootstrapInterval",
    "CaptureRates",
    "Differentials",
    "FmrMatrix",
    "GeneralizedRates",
    "Interval",
    "Measure",
    "Rate",
    "Summary",
    "Support",
    "ThresholdChoice",
]


@dataclass(frozen=True)
class Measure:
    """One summary number, or the reason it is undefined.

    Exactly one of ``value`` and ``reason`` is set. ``note`` carries a remark that does not make
    the value undefined (for example that rates were smoothed).
    """

    name: str
    value: float | None
    reason: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.reason is None):
            raise ValueError("a Measure has either a value or a reason, not both or neither")
        if self.value is not None:
            if not math.isfinite(self.value):
                raise ValueError(f"{self.name}: {self.value!r} is not a finite number")
            object.__setattr__(self, "value", float(self.value))

    @property
    def defined(self) -> bool:
        return self.value is not None

    @classmethod
    def of(cls, name: str, value: float, note: str | None = None) -> Measure:
        return cls(name, float(value), None, note)

    @classmethod
    def undefined(cls, name: str, reason: str) -> Measure:
        return cls(name, None, reason)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "defined": self.defined}


@dataclass(frozen=True)
class Rate:
    """An error rate as ``errors`` out of ``trials``; ``value`` is ``None`` without trials."""

    errors: int
    trials: int
    value: float | None = field(init=False)
    reason: str | None = field(init=False)

    def __post_init__(self) -> None:
        errors, trials = int(self.errors), int(self.trials)
        if trials < 0 or errors < 0 or errors > trials:
            raise ValueError(f"a rate needs 0 <= errors <= trials, got {errors} of {trials}")
        object.__setattr__(self, "errors", errors)
        object.__setattr__(self, "trials", trials)
        object.__setattr__(self, "value", errors / trials if trials else None)
        object.__setattr__(self, "reason", None if trials else "no trials")

    @property
    def defined(self) -> bool:
        return self.value is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ThresholdChoice:
    """A threshold chosen from pooled impostor scores at a target FMR (see
    :func:`threshold_at_fmr`).

    ``reachable`` is False when the data hold fewer than 1/target impostor scores: the
    smallest FMR they can show is 1/impostors, above the target, so the only threshold that
    meets the target lies above every impostor score and proves nothing. ``supported`` is
    False when they hold fewer than 3/target (the rule of three): the target cannot be claimed
    with 95% confidence even with zero false matches. ``reason`` explains either case; ``note``
    reports a tie that was not split.
    """

    threshold: float | None
    target_fmr: float
    impostors: int
    false_matches: int
    achieved_fmr: float | None
    reachable: bool
    supported: bool
    reason: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FmrMatrix:
    """Cross-group false match rates: ``rates[i][j]`` is FMR[groups[i]][groups[j]], over
    impostor pairs with one side in each group (symmetric; the diagonal is the same-group FMR).
    """

    groups: tuple[str, ...]
    rates: tuple[tuple[Rate, ...], ...]

    def rate(self, g: str, h: str) -> Rate:
        return self.rates[self.groups.index(g)][self.groups.index(h)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "groups": list(self.groups),
            "fmr": {
                g: {h: self.rates[i][j].to_dict() for j, h in enumerate(self.groups)}
                for i, g in enumerate(self.groups)
            },
        }


@dataclass(frozen=True)
class Interval:
    """A confidence interval for a rate ``k`` of ``n``; ``low``/``high`` are ``None`` (with a
    ``reason``) when there are no trials."""

    method: str
    confidence: float
    errors: int
    trials: int
    estimate: float | None
    low: float | None
    high: float | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BootstrapInterval:
    """A percentile bootstrap interval for a rate, resampling subjects (see
    :func:`bootstrap_rate`)."""

    confidence: float
    replicates: int
    used: int
    subjects: int
    estimate: float | None
    low: float | None
    high: float | None
    reason: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Support:
    """Whether a group's trials can support a claim that its rate is at most ``target``.

    Rule of three (docs/fairness-metrics.md, "Uncertainty"): zero errors in n trials bound the rate
    at about 3/n with 95% confidence, so a claim at ``target`` needs ``n >= 3 / target``
    trials (``needed``). ``bound_if_no_errors`` is 3/n, the best claim these trials allow.
    """

    target: float
    trials: int
    needed: int
    supported: bool
    bound_if_no_errors: float | None
    reason: str | None = None

    @property
    def insufficient(self) -> bool:
        return not self.supported

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "insufficient_data": self.insufficient}


@dataclass(frozen=True)
class CaptureRates:
    """Per-group failures before any comparison (docs/fairness-metrics.md, "Detection and
    enrollment"): failure to detect, to acquire (FTA, which includes detection failures) and to
    enroll."""

    group: str
    ftd: Rate
    fta: Rate
    fte: Rate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GeneralizedRates:
    """GFMR = FMR * (1 - FTA) and GFNMR = FTA + FNMR * (1 - FTA)."""

    gfmr: float
    gfnmr: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Differentials:
    """How one rate (FMR or FNMR) varies over groups."""

    max_min: Measure
    max_geomean: Measure
    gini: Measure

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k).to_dict() for k in ("max_min", "max_geomean", "gini")}


@dataclass(frozen=True)
class Summary:
    """The summary measures over groups for per-group FMR and FNMR (see
    :func:`summary_measures`)."""

    groups: tuple[str, ...]
    alpha: float
    fmr: Differentials
    fnmr: Differentials
    fdr: Measure
    ir: Measure
    garbe: Measure

    def to_dict(self) -> dict[str, Any]:
        """Flat, with the measure names the fairness gate's limits use (``fmr_max_geomean``,
        ``garbe``, ``fdr``, ...); each measure is a :meth:`Measure.to_dict`."""
        out: dict[str, Any] = {"groups": list(self.groups), "alpha": self.alpha}
        for prefix, d in (("fmr", self.fmr), ("fnmr", self.fnmr)):
            for key, m in d.to_dict().items():
                out[f"{prefix}_{key}"] = m
        out.update(fdr=self.fdr.to_dict(), ir=self.ir.to_dict(), garbe=self.garbe.to_dict())
        return out

    def gate_measures(self) -> dict[str, Any]:
        """The measures the fairness gate's limits can name, each a :meth:`Measure.to_dict`:
        the ``summary`` of an audit report (and of each option in its comparison)."""
        return {
            "fmr_max_geomean": self.fmr.max_geomean.to_dict(),
            "fnmr_max_geomean": self.fnmr.max_geomean.to_dict(),
            "fmr_max_min": self.fmr.max_min.to_dict(),
            "fnmr_max_min": self.fnmr.max_min.to_dict(),
            "fdr": self.fdr.to_dict(),
            "ir": self.ir.to_dict(),
            "garbe": self.garbe.to_dict(),
        }
