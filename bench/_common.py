"""What the benchmarks share: where results go, the machine's description, timing, percentiles,
memory readings, temporary folders and a real server.

Every script in bench/ imports it (``python bench/X.py`` puts bench/ first on ``sys.path``).
Results go to bench/results/ unless ``$BENCH_RESULTS_DIR`` names another folder (a trial run
then leaves the committed results alone); a script's ``--output PATH`` names the file itself.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from tests.server import Server

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DATA = REPO / "tests" / "data"
# The full London set (102 subjects, 10 views each), next to the repository when present.
LONDON = REPO.parent / "shared" / "data" / "faces" / "london"
RESULTS_ENV = "BENCH_RESULTS_DIR"
# A 1-minute load average above this at the start or the end: the machine was busy.
BUSY_LOAD = 1.5

T = TypeVar("T")
A = TypeVar("A")


# --------------------------------------------------------------------------- results


def results_dir() -> Path:
    """bench/results/, or the folder named by ``$BENCH_RESULTS_DIR``."""
    return Path(os.environ.get(RESULTS_ENV) or BENCH / "results")


def add_output_option(parser: argparse.ArgumentParser, name: str, quick: str = "") -> None:
    """``--output PATH``; without it, ``name`` (``quick`` with --quick) in the results folder."""
    also = f", {quick} with --quick" if quick else ""
    parser.add_argument(
        "--output",
        type=Path,
        help=f"JSON file (default: {name}{also} in bench/results/ or ${RESULTS_ENV})",
    )


def output_path(args: argparse.Namespace, name: str, quick: str = "") -> Path:
    """The file ``add_output_option`` describes, for the parsed ``args``."""
    if args.output is not None:
        return Path(args.output)
    return results_dir() / (quick if quick and getattr(args, "quick", False) else name)


def write_results(path: Path, results: Any, indent: int = 2) -> None:
    """The results as JSON (its folder made if needed), with a final newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=indent) + "\n")


def log(message: str) -> None:
    """Progress on stderr, with the time (stdout carries the summary)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the machine


def load_average() -> list[float]:
    """The 1-, 5- and 15-minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def now_utc() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def processor() -> str:
    return platform.processor() or platform.machine()


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return processor()


def system(versions: dict[str, Any] | None = None) -> dict[str, Any]:
    """Platform, Python, the given versions and the CPUs (all, and those this process may
    use)."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        **(versions or {}),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
    }


def environment(
    versions: dict[str, Any] | None = None, *, with_processor: bool = False
) -> dict[str, Any]:
    """``system(versions)``, the date and the load average at the start."""
    env = system(versions)
    if with_processor:
        env["processor"] = processor()
    env["date_utc"] = now_utc()
    env["load_average_1_5_15_at_start"] = load_average()
    return env


def end_environment(env: dict[str, Any], busy_note: str = "") -> None:
    """The load average at the end; with ``busy_note``, also ``machine_busy`` (and the note
    when it is true: what the load means for the figures)."""
    env["load_average_1_5_15_at_end"] = load_average()
    if not busy_note:
        return
    busy = max(env["load_average_1_5_15_at_start"][0], env["load_average_1_5_15_at_end"][0])
    env["machine_busy"] = busy > BUSY_LOAD
    if env["machine_busy"]:
        env["machine_busy_note"] = (
            f"1-minute load average above {BUSY_LOAD} on {os.cpu_count()} CPUs: {busy_note}"
        )


# --------------------------------------------------------------------------- timing


def time_one(fn: Callable[[], T]) -> tuple[int, T]:
    """Wall nanoseconds of one call of ``fn``, and its result."""
    start = time.perf_counter_ns()
    result = fn()
    return time.perf_counter_ns() - start, result


def time_each(fn: Callable[[A], Any], items: Iterable[A]) -> list[int]:
    """Wall nanoseconds of ``fn(item)`` for each item, one call at a time."""
    samples = []
    for item in items:
        start = time.perf_counter_ns()
        fn(item)
        samples.append(time.perf_counter_ns() - start)
    return samples


def time_calls(fn: Callable[[], T], repeats: int, warmup: int = 0) -> tuple[list[int], T]:
    """Wall nanoseconds of ``repeats`` calls after ``warmup`` untimed ones; the last result."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        elapsed, result = time_one(fn)
        samples.append(elapsed)
    return samples, result


def ms(samples_ns: Iterable[int]) -> list[float]:
    return [ns / 1e6 for ns in samples_ns]


@dataclass
class WallCpu:
    """Wall time and the thread's CPU time of each timed call, nanoseconds."""

    wall: list[int] = field(default_factory=list)
    cpu: list[int] = field(default_factory=list)

    def measure(self, run: Callable[[], T]) -> T:
        """Call ``run`` once, timed; its result."""
        t0 = time.perf_counter_ns()
        c0 = time.thread_time_ns()
        result = run()
        c1 = time.thread_time_ns()
        t1 = time.perf_counter_ns()
        self.wall.append(t1 - t0)
        self.cpu.append(c1 - c0)
        return result

    @staticmethod
    def overhead_ns(n: int = 100_000) -> float:
        """Median wall time of the timing calls ``measure`` makes around a call."""
        samples = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            time.thread_time_ns()
            time.thread_time_ns()
            t1 = time.perf_counter_ns()
            samples.append(t1 - t0)
        return float(statistics.median(samples))


def interleave(
    blocks: Sequence[Callable[[], None]],
    rounds: int,
    after_round: Callable[[int], None] | None = None,
) -> None:
    """Each scenario's next block in turn, ``rounds`` times, so that background load on the
    machine falls on every scenario alike."""
    for r in range(rounds):
        for block in blocks:
            block()
        if after_round is not None:
            after_round(r + 1)


# --------------------------------------------------------------------------- percentiles


def percentile(values: Sequence[float] | np.ndarray, q: float, nearest: bool = False) -> float:
    """The ``q``-th percentile (0-100), interpolated linearly between the two nearest values,
    or with ``nearest`` the value of rank round(q/100 * (n - 1)) in sorted order."""
    if nearest:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def _statistic(values: np.ndarray, name: str) -> float:
    if name == "median":
        return float(np.median(values))
    if name in ("mean", "min", "max"):
        return float(getattr(values, name)())
    return percentile(values, float(name[1:].replace("_", ".")))  # p50, p99_9


def summarize(
    samples: Sequence[float] | np.ndarray,
    unit: str,
    stats: Sequence[str],
    *,
    per: float = 1.0,
    digits: int = 4,
    count: str | None = "n",
    prefix: str = "",
) -> dict[str, Any]:
    """``{prefix}{stat}_{unit}`` for each of ``stats`` (p50, p99_9, median, mean, min, max) of
    ``samples / per``, rounded to ``digits``; and the number of samples under ``count``."""
    values = np.asarray(samples, dtype=np.float64) / per
    out: dict[str, Any] = {
        f"{prefix}{name}_{unit}": round(_statistic(values, name), digits) for name in stats
    }
    if count is not None:
        out[count] = int(values.size)
    return out


# --------------------------------------------------------------------------- memory


def _status_kb(key: str) -> int | None:
    """A ``kB`` line of /proc/self/status (VmRSS, VmHWM), None where there is none."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_bytes() -> int:
    """This process's resident set size now."""
    return (_status_kb("VmRSS") or 0) * 1024


def rss_mb() -> float:
    return round(rss_bytes() / 2**20, 1)


def vm_hwm_mb() -> float | None:
    """This process's peak resident memory (VmHWM) in MiB, None off Linux.

    Unlike ru_maxrss, it does not carry over the parent's peak into a child started by
    fork + exec (which is how spawn starts workers), and ``reset_peak_rss`` resets it.
    """
    kb = _status_kb("VmHWM")
    return None if kb is None else round(kb / 1024, 1)


def rusage_peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size from getrusage in MiB (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def peak_rss_mb() -> float:
    """VmHWM, or off Linux the process's peak since it started."""
    peak = vm_hwm_mb()
    return rusage_peak_mb() if peak is None else peak


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------- the London set

LONDON_VIEW_KINDS = ("front", "3quarter", "profile")


def london_views(root: Path) -> list[Path]:
    """The view folders of a London set (neutral_front, smiling_left_3quarter, ...)."""
    return sorted(p for p in root.iterdir() if p.is_dir())


def london_images(view: Path, limit: int | None = None) -> list[Path]:
    """A view's images in file-name (subject) order, the first ``limit`` of them."""
    files = sorted(view.glob("*.jpg"))
    return files if limit is None else files[:limit]


def view_kind(view: str) -> str:
    """front, 3quarter or profile: the kind of a London view, from its folder's name."""
    for kind in LONDON_VIEW_KINDS:
        if kind in view:
            return kind
    raise ValueError(view)


# --------------------------------------------------------------------------- folders, servers


@contextlib.contextmanager
def workdir(name: str) -> Iterator[Path]:
    """A temporary folder on the local disk, removed at the end."""
    with tempfile.TemporaryDirectory(
        prefix=f"facegate-bench-{name}-", ignore_cleanup_errors=True
    ) as path:
        yield Path(path)


def _tests_on_path() -> None:
    """The repository's tests package (tests.server) importable."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


@contextlib.contextmanager
def server(data_dir: Path, **env: str) -> Iterator[Server]:
    """A real facegate server (``tests.server.Server``, SQLite in ``data_dir``) with one
    request worker unless ``env`` says otherwise; stopped at the end."""
    _tests_on_path()
    from tests.server import Server

    started = Server(data_dir, **{"FACEGATE_WORKERS": "1", **env})
    try:
        yield started
    finally:
        started.stop()


def governed_client(server: Server, organization: str, **use_case: Any) -> tuple[Any, Any]:
    """A governed key of a new organization's approved use case (``Server.governed_keys``)
    and a boto3 Rekognition client signing with it (sending the basis headers)."""
    _tests_on_path()
    from tests.server import BASIS

    keys = server.governed_keys(organization, **use_case)
    return keys, server.client(keys, headers=BASIS)
