"""Timed phases of bench/audit.py (wall time, CPU time, peak RSS) and the verifications that
follow a run."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from _common import peak_rss_mb, reset_peak_rss, rss_mb
from facegate.audit import verify


@dataclass
class Phase:
    """Wall time, CPU time and peak RSS of one timed phase."""

    name: str
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    rss_before_mb: float = 0.0
    peak_rss_mb: float = 0.0
    peak_reset: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 2),
            "cpu_seconds": round(self.cpu_seconds, 2),
            "rss_before_mb": self.rss_before_mb,
            "peak_rss_mb": self.peak_rss_mb,
            "peak_rss_is_for_this_phase": self.peak_reset,
        }


def release_memory() -> None:
    """Collect garbage and hand freed heap back to the OS, so RSS starts near what is live."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def timed(name: str, work: Callable[[], Any]) -> tuple[Any, Phase]:
    """Run ``work`` after a collection, with the peak-RSS mark reset; its result and Phase."""
    release_memory()
    phase = Phase(name, rss_before_mb=rss_mb(), peak_reset=reset_peak_rss())
    c0, t0 = time.process_time(), time.perf_counter()
    result = work()
    phase.seconds = time.perf_counter() - t0
    phase.cpu_seconds = time.process_time() - c0
    phase.peak_rss_mb = peak_rss_mb()
    return result, phase


def verified_after(sessions: sessionmaker[Session], public_pem: str) -> dict[str, Any]:
    """verify_database after a run: does the chain still verify, and how long it took."""
    report, phase = timed("verify", lambda: verify.verify_database(sessions, public_pem))
    return {
        "ok": report.ok,
        "records": report.records,
        "checkpoints_verified": report.checkpoints_verified,
        "first_problem": report.to_dict()["first_problem"],
        "seconds": round(phase.seconds, 2),
    }


def report_of(report: verify.Report) -> dict[str, Any]:
    """A verification report without its problem list and head hash."""
    out = report.to_dict()
    out.pop("problems")
    out.pop("head_hash")
    return out
