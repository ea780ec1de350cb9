"""Video jobs: stored in SQL, run in a pool of engine processes, resumable after a restart.

A job is created by StartFaceDetection or StartFaceSearch (after the policy point allowed
it, in the same transaction as the request's audit record) with status ``QUEUED``. One
dispatcher thread in the server takes the oldest queued job and the pipeline runs it: its
video split into segments the video pool analyses in parallel, each finished segment saved
so that an interrupted job resumes, then the faces tracked, each person searched, and the
answer, the reviews and the outcome's audit record stored in one transaction.

:class:`VideoJobs` is what the server and the doors use; the work is in

- :mod:`facegate.video.repository`: the jobs in SQL (create, the earlier job of a repeated
  ClientRequestToken, status, cancel, the pages of an answer, a job's end);
- :mod:`facegate.video.dispatcher`: the thread, the queue, resumption after a restart;
- :mod:`facegate.video.pipeline`: segments -> tracking -> search -> results.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.log import AuditLog, Record
from facegate.config import Settings
from facegate.gallery.store import Gallery
from facegate.policy.registry import Principal
from facegate.policy.reviews import Reviews
from facegate.video.analysis import VideoPool
from facegate.video.dispatcher import Dispatcher
from facegate.video.media import VideoError, VideoMetadata, probe
from facegate.video.pipeline import Pipeline
from facegate.video.repository import JobRepository, JobRequest, Located
from facegate.video.store import DIRECTORY_BUCKET, VideoStore


class VideoJobs:
    """The video jobs of every organization, as the doors and the server use them. The reads
    and the cancel are the repository's own methods; a new job wakes the dispatcher."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: VideoStore,
        gallery: Gallery,
        reviews: Reviews,
        audit: AuditLog,
        settings: Settings,
        clock: Callable[[], datetime],
    ):
        self.store = store
        self.repository = repository = JobRepository(
            sessions, gallery.tokens, audit, settings.video.sample_fps, clock
        )
        self.pipeline = Pipeline(sessions, store, gallery, reviews, audit, repository, clock)
        self.dispatcher = Dispatcher(
            sessions, repository, self.pipeline, VideoPool(settings), clock
        )
        self.earlier = repository.earlier  # the job a repeated ClientRequestToken started
        self.results = repository.results  # GetFaceDetection / GetFaceSearch
        self.describe = repository.describe
        self.listing = repository.listing
        self.cancel = repository.cancel  # a queued job at once, a running one after its segments

    # --- requests ----------------------------------------------------------------------------

    def locate(self, organization_id: int, video: dict[str, Any]) -> Located:
        """The video a request names: a stored one, or a file in the video directory."""
        bucket, name = self.store.named(video)
        if bucket == DIRECTORY_BUCKET:
            path, relative = self.store.in_directory(name)
            try:
                metadata: VideoMetadata | None = probe(path)
            except VideoError:
                metadata = None
            return Located(None, relative, metadata)
        row = self.store.stored(organization_id, name)
        return Located(row.id, "", VideoMetadata.from_dict(json.loads(row.video_metadata)))

    def start(
        self,
        principal: Principal,
        kind: str,
        located: Located,
        *,
        record: Record,
        collection: str | None = None,
        requested_threshold: float | None = None,
        effective_threshold: float | None = None,
        review_required: bool = False,
        case_reference: str = "",
        warrant_reference: str = "",
        job_tag: str = "",
        token: str = "",
        digest: str = "",
        max_matches: int = 0,
    ) -> dict[str, Any]:
        """A queued job (the keywords are :class:`JobRequest`'s fields), stored with the
        request's record; the dispatcher is woken for it."""
        request = JobRequest(
            collection=collection,
            requested_threshold=requested_threshold,
            effective_threshold=effective_threshold,
            review_required=review_required,
            case_reference=case_reference,
            warrant_reference=warrant_reference,
            job_tag=job_tag,
            token=token,
            digest=digest,
            max_matches=max_matches,
        )
        out = self.repository.create(principal, kind, located, request, record)
        self.dispatcher.wake()
        return out

    # --- the server's start and stop ---------------------------------------------------------

    def begin(self) -> None:
        """Remove half-written uploads, recover interrupted jobs and start the dispatcher
        thread (server start-up)."""
        self.store.clear_incoming()
        self.dispatcher.begin()

    def close(self) -> None:
        self.dispatcher.close()

    def recover(self) -> dict[str, int]:
        """Jobs a stopped server left running: queued again, or failed (see the dispatcher)."""
        return self.dispatcher.recover()
