"""Run one engine task over many inputs, in order, in-process or on a worker pool, with progress."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

from tqdm import tqdm

from facegate.config import Settings
from facegate.vision import workers


def run_many(
    task: Callable[..., Any],
    jobs: Sequence[tuple[Any, ...]],
    settings: Settings,
    n_workers: int,
    label: str,
    quiet: bool = False,
) -> Iterator[tuple[bool, Any]]:
    """Yield ``workers.safely(task, *job)`` for each job, in the order given.

    One worker runs in this process (no start-up cost); more use a process pool. A progress
    bar goes to stderr when there is more than one job and stderr is a terminal.
    """
    show = not quiet and len(jobs) > 1 and sys.stderr.isatty()
    bar = tqdm(total=len(jobs), desc=label, unit="img", disable=not show, file=sys.stderr)
    try:
        if n_workers <= 1 or len(jobs) <= 1:
            workers.engine(settings)
            for job in jobs:
                yield workers.safely(task, *job)
                bar.update()
            return
        with workers.make_pool(settings, n_workers) as pool:
            # Keep at most a few jobs per worker in flight so memory stays bounded.
            window = 4 * n_workers
            pending: list[Future[tuple[bool, Any]]] = []
            it = iter(jobs)
            for job in it:
                pending.append(pool.submit(workers.safely, task, *job))
                if len(pending) >= window:
                    break
            while pending:
                result = pending.pop(0).result()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append(pool.submit(workers.safely, task, *nxt))
                bar.update()
                yield result
    finally:
        bar.close()
