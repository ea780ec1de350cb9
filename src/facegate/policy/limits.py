"""SURVEILLANCE-LIMITS counters: identification searches and video seconds per use case.

Counted in SQL, so they survive restarts, in fixed UTC windows: the current hour and the
current day. Only allowed requests count. The decision point reads and bumps a use case's
counters under one lock, so concurrent requests of one server process cannot overshoot a cap.
Reads come from memory: a use case's windows are loaded from SQL once per day. A count is
made in memory at the decision (so the next decision sees it) and written to SQL in the
transaction that records the request: a counted search and its record commit together.
(Several server processes sharing one database would each see only their own counts since
loading; run one per database.)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from facegate.db import aware
from facegate.policy.tables import UsageCounter

SEARCHES = "searches"
VIDEO_SECONDS = "video_seconds"
KEEP_WINDOWS_FOR = timedelta(days=2)


@dataclass(frozen=True)
class Usage:
    """A count reserved in memory, to be written with the request's record."""

    use_case_id: int
    metric: str
    amount: float
    at: datetime


def windows(now: datetime) -> dict[str, datetime]:
    hour = now.replace(minute=0, second=0, microsecond=0)
    return {"hour": hour, "day": hour.replace(hour=0)}


class Counters:
    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions
        self.lock = threading.Lock()
        # (use case, metric, window, window start) -> amount, for the days loaded below
        self._amounts: dict[tuple[int, str, str, datetime], float] = {}
        self._loaded: set[tuple[int, datetime]] = set()  # (use case, day start)

    def _load(self, use_case_id: int, day: datetime) -> None:
        if (use_case_id, day) in self._loaded:
            return
        with self.sessions() as s:
            rows = s.scalars(
                select(UsageCounter).where(
                    UsageCounter.use_case_id == use_case_id, UsageCounter.window_start >= day
                )
            ).all()
        for row in rows:
            key = (use_case_id, row.metric, row.window, aware(row.window_start))
            self._amounts[key] = row.amount
        self._loaded.add((use_case_id, day))

    def usage(self, use_case_id: int | None, now: datetime) -> dict[str, int]:
        """The use case's counts in the windows around ``now`` (zeros without a use case)."""
        if use_case_id is None:
            return {"searches_this_hour": 0, "searches_today": 0, "video_seconds_today": 0}
        current = windows(now)
        self._load(use_case_id, current["day"])
        get = self._amounts.get
        return {
            "searches_this_hour": int(get((use_case_id, SEARCHES, "hour", current["hour"]), 0)),
            "searches_today": int(get((use_case_id, SEARCHES, "day", current["day"]), 0)),
            "video_seconds_today": int(get((use_case_id, VIDEO_SECONDS, "day", current["day"]), 0)),
        }

    def reserve(self, use_case_id: int, metric: str, amount: float, now: datetime) -> Usage:
        """Count ``amount`` now, in memory (call under :attr:`lock`); persist it with
        :meth:`persist` in the transaction that records the request."""
        current = windows(now)
        self._load(use_case_id, current["day"])
        for window, start in current.items():
            key = (use_case_id, metric, window, start)
            self._amounts[key] = self._amounts.get(key, 0.0) + amount
        return Usage(use_case_id, metric, amount, now)

    def persist(self, s: Session, usage: Usage) -> None:
        """Write a reserved count to SQL inside ``s``'s transaction."""
        for window, start in windows(usage.at).items():
            key = (usage.use_case_id, usage.metric, window, start)
            row = s.get(UsageCounter, key)
            if row is None:
                s.add(
                    UsageCounter(
                        use_case_id=usage.use_case_id,
                        metric=usage.metric,
                        window=window,
                        window_start=start,
                        amount=usage.amount,
                    )
                )
            else:
                row.amount += usage.amount
        s.execute(
            delete(UsageCounter)
            .where(
                UsageCounter.use_case_id == usage.use_case_id,
                UsageCounter.window_start < usage.at - KEEP_WINDOWS_FOR,
            )
            .execution_options(synchronize_session=False)
        )

    def add(self, use_case_id: int, metric: str, amount: float, now: datetime) -> None:
        """Count and persist at once (its own transaction)."""
        usage = self.reserve(use_case_id, metric, amount, now)
        with self.sessions.begin() as s:
            self.persist(s, usage)
