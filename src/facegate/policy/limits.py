"""SURVEILLANCE-LIMITS counters: identification searches and video seconds per use case.

Counted in SQL, so they survive restarts, in fixed UTC windows: the current hour and the
current day. Only allowed requests count. The decision point reads and bumps a use case's
counters under one lock, so concurrent requests of one server process cannot overshoot a cap.
Reads come from memory: a use case's windows are loaded from SQL once per day, and every
count is written to SQL and to memory together. (Several server processes sharing one
database would each see only their own counts since loading; run one per database.)
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from facegate.policy.registry import aware
from facegate.policy.tables import UsageCounter

SEARCHES = "searches"
VIDEO_SECONDS = "video_seconds"
KEEP_WINDOWS_FOR = timedelta(days=2)


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

    def add(self, use_case_id: int, metric: str, amount: float, now: datetime) -> None:
        """Count ``amount`` of ``metric`` in the current hour and day (SQL, then memory)."""
        current = windows(now)
        self._load(use_case_id, current["day"])
        totals = {}
        with self.sessions.begin() as s:
            for window, start in current.items():
                row = s.get(UsageCounter, (use_case_id, metric, window, start))
                if row is None:
                    row = UsageCounter(
                        use_case_id=use_case_id,
                        metric=metric,
                        window=window,
                        window_start=start,
                        amount=amount,
                    )
                    s.add(row)
                else:
                    row.amount += amount
                totals[(use_case_id, metric, window, start)] = row.amount
            s.execute(
                delete(UsageCounter)
                .where(
                    UsageCounter.use_case_id == use_case_id,
                    UsageCounter.window_start < now - KEEP_WINDOWS_FOR,
                )
                .execution_options(synchronize_session=False)
            )
        self._amounts.update(totals)  # committed: memory follows SQL
