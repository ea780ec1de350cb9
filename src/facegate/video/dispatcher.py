"""The one thread that runs video jobs: the oldest queued job first, on the video pool.

A job is claimed by turning it ``IN_PROGRESS`` and counting the attempt; the pipeline
(:mod:`facegate.video.pipeline`) runs it. At start-up, jobs a stopped server left running
are queued again (they resume from their saved segments), or failed with a clear
``StatusMessage`` once they were interrupted :data:`MAX_ATTEMPTS` times.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from facegate.video.analysis import VideoPool
from facegate.video.pipeline import Pipeline
from facegate.video.repository import JobRepository
from facegate.video.tables import VideoJob

log = logging.getLogger("facegate.video")

MAX_ATTEMPTS = 3


class Dispatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        jobs: JobRepository,
        pipeline: Pipeline,
        pool: VideoPool,
        clock: Callable[[], datetime],
    ):
        self.sessions = sessions
        self.jobs = jobs
        self.pipeline = pipeline
        self.pool = pool
        self.clock = clock
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()

    def wake(self) -> None:
        """A job was queued: look at the queue now rather than at the next poll."""
        self._wake.set()

    def begin(self) -> None:
        """Recover interrupted jobs and start the dispatcher thread."""
        self.recover()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="video-jobs", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop after the current segments (a running job resumes at the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.pool.close()

    def recover(self) -> dict[str, int]:
        """Jobs a stopped server left running: queue them again (they resume from their
        saved segments), or fail them after MAX_ATTEMPTS interruptions."""
        counts = {"resumed": 0, "failed": 0}
        with self.sessions.begin() as s:
            for job in s.scalars(select(VideoJob).where(VideoJob.status == "IN_PROGRESS")):
                if job.attempts >= MAX_ATTEMPTS:
                    self.jobs.end(
                        s,
                        job,
                        "FAILED",
                        f"The job was interrupted {job.attempts} times (the server stopped "
                        "while it ran); it was given up. Start it again.",
                    )
                    counts["failed"] += 1
                else:
                    job.status = "QUEUED"
                    counts["resumed"] += 1
        if any(counts.values()):
            log.info("video jobs after restart: %s", counts)
        return counts

    def claim(self) -> str | None:
        """The oldest queued job, now IN_PROGRESS with one more attempt (None: none)."""
        with self.sessions.begin() as s:
            job = s.scalars(
                select(VideoJob)
                .where(VideoJob.status == "QUEUED")
                .order_by(VideoJob.created_at)
                .limit(1)
            ).first()
            if job is None:
                return None
            claimed = cast(
                CursorResult[Any],
                s.execute(
                    update(VideoJob)
                    .where(VideoJob.id == job.id, VideoJob.status == "QUEUED")
                    .values(
                        status="IN_PROGRESS",
                        attempts=VideoJob.attempts + 1,
                        started_at=job.started_at or self.clock(),
                    )
                ),
            ).rowcount
            return job.id if claimed == 1 else None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job_id = self.claim()
            except Exception:  # the database is away: try again shortly
                log.exception("cannot read the video job queue")
                job_id = None
            if job_id is None:
                self._wake.wait(timeout=2.0)
                self._wake.clear()
                continue
            try:
                self.pipeline.run(job_id, self.pool, self._stop)
            except Exception:  # a defect: fail the job, keep the dispatcher alive
                log.exception("video job %s failed", job_id)
                try:
                    self.jobs.fail(
                        job_id, "The job failed inside facegate; the operator's log has why."
                    )
                except Exception:  # left IN_PROGRESS: the next start resumes or fails it
                    log.exception("video job %s could not be marked failed", job_id)
