"""SURVEILLANCE-LIMITS counters: identification searches and video seconds per use case.

Counted in SQL, so they survive restarts, in fixed UTC windows: the current hour and the
current day. Only allowed requests count. The decision point reads and bumps a use case's
counters under one lock, so concurrent requests of one server process cannot overshoot a cap.
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

    def usage(self, use_case_id: int | None, now: datetime) -> dict[str, int]:
        """The use case's counts in the windows around ``now`` (zeros without a use case)."""
        counts = {"searches_this_hour": 0, "searches_today": 0, "video_seconds_today": 0}
        if use_case_id is None:
            return counts
        current = windows(now)
        with self.sessions() as s:
            rows = s.scalars(
                select(UsageCounter).where(
                    UsageCounter.use_case_id == use_case_id,
                    UsageCounter.window_start >= current["day"],
                )
            ).all()
        for row in rows:
            start = aware(row.window_start)
            if row.window == "hour" and start == current["hour"] and row.metric == SEARCHES:
                counts["searches_this_hour"] = int(row.amount)
            elif row.window == "day" and start == current["day"]:
                key = "searches_today" if row.metric == SEARCHES else "video_seconds_today"
                counts[key] = int(row.amount)
        return counts

    def add(self, use_case_id: int, metric: str, amount: float, now: datetime) -> None:
        """Count ``amount`` of ``metric`` in the current hour and day."""
        with self.sessions.begin() as s:
            for window, start in windows(now).items():
                row = s.get(UsageCounter, (use_case_id, metric, window, start))
                if row is None:
                    s.add(
                        UsageCounter(
                            use_case_id=use_case_id,
                            metric=metric,
                            window=window,
                            window_start=start,
                            amount=amount,
                        )
                    )
                else:
                    row.amount += amount
            s.execute(
                delete(UsageCounter)
                .where(
                    UsageCounter.use_case_id == use_case_id,
                    UsageCounter.window_start < now - KEEP_WINDOWS_FOR,
                )
                .execution_options(synchronize_session=False)
            )
