"""Video jobs: stored in SQL, run in a pool of engine processes, resumable after a restart.

A job is created by StartFaceDetection or StartFaceSearch (after the policy point allowed
it, in the same transaction as the request's audit record) with status ``QUEUED``. One
dispatcher thread in the server takes the oldest queued job, splits its video into segments
and has the video pool analyse them in parallel. Each finished segment is saved with the
job's progress, so a job interrupted by a crash resumes from the segments it has; a job
interrupted :data:`MAX_ATTEMPTS` times fails with a clear ``StatusMessage``. When every
segment is in, the faces are tracked (:mod:`facegate.video.tracking`), each person is searched
with their best faces, and in one transaction the answer is stored, the segments (which hold
vectors of everyone in the footage) are deleted, the reviews opened (HUMAN-REVIEW) and the
outcome recorded in the audit log.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.log import AuditLog, Entry, Record
from facegate.config import Settings
from facegate.errors import (
    ConflictException,
    FacegateError,
    IdempotentParameterMismatchException,
    ResourceNotFoundException,
)
from facegate.gallery.store import Gallery
from facegate.policy.deadlines import touch
from facegate.policy.registry import Principal
from facegate.policy.reviews import Reviews
from facegate.video import analysis
from facegate.video.media import VideoError, VideoMetadata, probe
from facegate.video.results import (
    detection_rows,
    page,
    person_rows,
    store_rows,
    without_deleted,
)
from facegate.video.store import DIRECTORY_BUCKET, STORE_BUCKET, VideoStore
from facegate.video.tables import VideoJob, VideoJobSegment
from facegate.video.tracking import Observation, Track, track_faces
from facegate.vision import workers

log = logging.getLogger("facegate.video")

MAX_ATTEMPTS = 3
SEGMENT_MIN_MS, SEGMENT_MAX_MS = 2_000, 10_000
FACES_SEARCHED_PER_PERSON = 3
TRUNCATION_TOLERANCE_MS = 1_000
OUTCOME_OPERATION = {"detection": "FaceDetectionJob", "search": "FaceSearchJob"}


class JobFailed(Exception):
    """The job cannot finish; the message becomes its ``StatusMessage``."""


def segments_of(duration_ms: int, sample_fps: float) -> list[tuple[float, float]]:
    """The stretches a video is analysed in: 2-10 s (an eighth of the video), each a whole
    number of sampling slots, so that no slot straddles two segments (a frame at either side
    of a cut would otherwise be sampled by neither). A function of the duration and the
    job's sampling rate only, so that a resumed job finds the same segments."""
    step = 1000.0 / sample_fps
    size = min(SEGMENT_MAX_MS, max(SEGMENT_MIN_MS, math.ceil(duration_ms / 8)))
    span = max(1, math.ceil(size / step)) * step
    count = max(1, math.ceil(duration_ms / span - 1e-9))
    return [(k * span, min((k + 1) * span, duration_ms)) for k in range(count)]


def expected_frames(duration_ms: int, sample_fps: float) -> int:
    return max(1, math.ceil(duration_ms / 1000 * sample_fps))


@dataclass(frozen=True)
class Located:
    """The video a Start request names, read from its header before the policy decides."""

    video_id: str | None
    name: str
    metadata: VideoMetadata | None  # None: unreadable header (the job will fail and say why)


def requester_of(p: Principal) -> dict[str, Any]:
    return {
        "organization": p.organization,
        "sector": p.sector,
        "member": p.member,
        "roles": list(p.roles),
        "purpose": p.purpose,
        "review_quorum": p.review_quorum,
    }


class VideoJobs:
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
        self.sessions = sessions
        self.store = store
        self.gallery = gallery
        self.reviews = reviews
        self.audit = audit
        self.settings = settings
        self.clock = clock
        self._pool: ProcessPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()

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

    def earlier(
        self, organization_id: int, kind: str, token: str | None, digest: str
    ) -> str | None:
        """The job a repeated ClientRequestToken started (Rekognition returns its JobId)."""
        if not token:
            return None
        with self.sessions() as s:
            job = s.scalars(
                select(VideoJob).where(
                    VideoJob.organization_id == organization_id,
                    VideoJob.kind == kind,
                    VideoJob.client_request_token == token,
                )
            ).first()
            if job is None:
                return None
            if job.request_digest != digest:
                raise IdempotentParameterMismatchException(
                    "ClientRequestToken was used before with different parameters."
                )
            return job.id

    def start(
        self,
        principal: Principal,
        kind: str,
        located: Located,
        *,
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
        record: Record | None = None,
    ) -> dict[str, Any]:
        metadata = located.metadata
        job = VideoJob(
            id=secrets.token_hex(32),
            organization_id=principal.organization_id,
            access_key_id=principal.access_key_id,
            holder=principal.holder,
            use_case_id=principal.use_case_id,
            requester=json.dumps(requester_of(principal)),
            kind=kind,
            status="QUEUED",
            status_message="",
            video_id=located.video_id,
            video_name=located.name,
            collection=collection,
            requested_threshold=requested_threshold,
            effective_threshold=effective_threshold,
            job_tag=job_tag,
            client_request_token=token,
            request_digest=digest,
            case_reference=case_reference,
            warrant_reference=warrant_reference,
            review_required=review_required,
            review_ids="[]",
            max_matches=max_matches,
            counted_seconds=math.ceil(metadata.duration_ms / 1000) if metadata else 0,
            sample_fps=self.settings.video.sample_fps,
            frames_total=expected_frames(metadata.duration_ms, self.settings.video.sample_fps)
            if metadata
            else 0,
            video_metadata=json.dumps(metadata.to_dict()) if metadata else "{}",
            created_at=self.clock(),
        )
        with self.sessions.begin() as s:
            s.add(job)
            s.flush()
            out = {"JobId": job.id}
            if record is not None:
                record(s, out)
        self._wake.set()
        return out

    def _job(self, s: Session, organization_id: int, job_id: str, kind: str | None) -> VideoJob:
        job = s.get(VideoJob, job_id) if len(job_id) <= 64 else None
        if job is None or job.organization_id != organization_id or kind not in (None, job.kind):
            raise ResourceNotFoundException(f"No video job {job_id[:64]!r}.")
        return job

    def results(
        self,
        organization_id: int,
        job_id: str,
        kind: str,
        max_results: int,
        next_token: str | None,
        sort_by: str,
    ) -> dict[str, Any]:
        """GetFaceDetection / GetFaceSearch."""
        with self.sessions() as s:
            job = self._job(s, organization_id, job_id, kind)
            out = status_view(job)
            if job.status == "SUCCEEDED":
                entries, token = page(
                    s, self.gallery.tokens, job.id, sort_by, max_results, next_token
                )
                if kind == "search":
                    entries = without_deleted(s, organization_id, job.collection or "", entries)
                out["Faces" if kind == "detection" else "Persons"] = entries
                if token:
                    out["NextToken"] = token
            elif kind == "detection":
                out["Faces"] = []
            else:
                out["Persons"] = []
            return out

    def describe(self, organization_id: int, job_id: str) -> dict[str, Any]:
        with self.sessions() as s:
            return status_view(self._job(s, organization_id, job_id, None))

    def listing(self, organization_id: int, limit: int = 100) -> list[dict[str, Any]]:
        with self.sessions() as s:
            jobs = s.scalars(
                select(VideoJob)
                .where(VideoJob.organization_id == organization_id)
                .order_by(VideoJob.created_at.desc())
                .limit(limit)
            )
            return [status_view(j) for j in jobs]

    def cancel(
        self, organization_id: int, job_id: str, by: str, record: Record | None = None
    ) -> dict[str, Any]:
        """Stop a job: a queued one at once, a running one after its current segments."""
        with self.sessions.begin() as s:
            job = self._job(s, organization_id, job_id, None)
            if job.status in ("SUCCEEDED", "FAILED"):
                raise ConflictException(f"Video job {job.id} has ended ({job.status}).")
            job.cancel_requested_by = by
            if job.status == "QUEUED":
                self._end(s, job, "FAILED", f"Cancelled by {by}.")
            s.flush()
            out = status_view(job)
            if record is not None:
                record(s, out)
        return out

    # --- the dispatcher --------------------------------------------------------------------

    def begin(self) -> None:
        """Recover interrupted jobs and start the dispatcher thread (server start-up)."""
        self.store.clear_incoming()
        self.recover()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="video-jobs", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def recover(self) -> dict[str, int]:
        """Jobs a stopped server left running: queue them again (they resume from their
        saved segments), or fail them after MAX_ATTEMPTS interruptions."""
        counts = {"resumed": 0, "failed": 0}
        with self.sessions.begin() as s:
            for job in s.scalars(select(VideoJob).where(VideoJob.status == "IN_PROGRESS")):
                if job.attempts >= MAX_ATTEMPTS:
                    self._end(
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

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job_id = self._claim()
            except Exception:  # the database is away: try again shortly
                log.exception("cannot read the video job queue")
                job_id = None
            if job_id is None:
                self._wake.wait(timeout=2.0)
                self._wake.clear()
                continue
            try:
                self._process(job_id)
            except Exception:  # a defect: fail the job, keep the dispatcher alive
                log.exception("video job %s failed", job_id)
                try:
                    self._fail(
                        job_id, "The job failed inside facegate; the operator's log has why."
                    )
                except Exception:  # left IN_PROGRESS: the next start resumes or fails it
                    log.exception("video job %s could not be marked failed", job_id)

    def _claim(self) -> str | None:
        with self.sessions.begin() as s:
            job = s.scalars(
                select(VideoJob)
                .where(VideoJob.status == "QUEUED")
                .order_by(VideoJob.created_at)
                .limit(1)
            ).first()
            if job is None:
                return None
            claimed = s.execute(
                update(VideoJob)
                .where(VideoJob.id == job.id, VideoJob.status == "QUEUED")
                .values(
                    status="IN_PROGRESS",
                    attempts=VideoJob.attempts + 1,
                    started_at=job.started_at or self.clock(),
                )
            ).rowcount
            return job.id if claimed == 1 else None

    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = workers.make_pool(
                analysis.engine_settings(self.settings), self.settings.video.workers
            )
        return self._pool

    def _path(self, job: VideoJob) -> Path:
        if job.video_id is not None:
            with self.sessions() as s:
                row = self.store.get(s, job.organization_id, job.video_id)
                return self.store.path_of(row)
        path, _ = self.store.in_directory(job.video_name)
        return path

    def _process(self, job_id: str) -> None:
        with self.sessions() as s:
            job = s.get(VideoJob, job_id)
            assert job is not None
            s.expunge(job)
            done = {
                seg.seq: seg.frames
                for seg in s.scalars(
                    select(VideoJobSegment).where(VideoJobSegment.job_id == job_id)
                )
            }
        try:
            path = self._path(job)
            metadata = probe(path)
            if job.kind == "search" and metadata.duration_ms > job.counted_seconds * 1000 + 1000:
                raise JobFailed(
                    "The video is longer than when the job was started; start a new job."
                )
            self._analyse(job, path, metadata, done)
            by = self._cancelled(job_id)
            if by:
                raise JobFailed(f"Cancelled by {by}.")
            self._finish(job, metadata)
        except _Stopping:
            return  # left IN_PROGRESS: resumed from its saved segments at the next start
        except (VideoError, JobFailed) as exc:
            self._fail(job_id, str(exc))
        except FacegateError as exc:  # the video was deleted, the directory moved, ...
            self._fail(job_id, exc.message)

    def _cancelled(self, job_id: str) -> str:
        with self.sessions() as s:
            return s.scalar(select(VideoJob.cancel_requested_by).where(VideoJob.id == job_id)) or ""

    def _analyse(
        self, job: VideoJob, path: Path, metadata: VideoMetadata, done: dict[int, int]
    ) -> None:
        segments = segments_of(metadata.duration_ms, job.sample_fps)
        with self.sessions.begin() as s:
            s.execute(
                update(VideoJob)
                .where(VideoJob.id == job.id)
                .values(
                    video_metadata=json.dumps(metadata.to_dict()),
                    frames_total=max(
                        expected_frames(metadata.duration_ms, job.sample_fps), sum(done.values())
                    ),
                    frames_done=sum(done.values()),
                )
            )
        pending: dict[Future, int] = {}
        try:
            pool = self.pool()
            for seq, (start, end) in enumerate(segments):
                if seq not in done:
                    future = pool.submit(
                        analysis.analyze_segment, str(path), start, end, job.sample_fps
                    )
                    pending[future] = seq
            while pending:
                finished, _ = wait(list(pending), timeout=1.0, return_when=FIRST_COMPLETED)
                for future in finished:
                    seq = pending.pop(future)
                    result = future.result()
                    start, end = segments[seq]
                    if result["last_ms"] < end - TRUNCATION_TOLERANCE_MS - 1000 / max(
                        metadata.frame_rate, 1
                    ):
                        raise JobFailed(
                            f"The video breaks off at {max(result['last_ms'], 0) / 1000:.1f} s but "
                            f"its header says it lasts {metadata.duration_ms / 1000:.1f} s: the "
                            "file is truncated or corrupt."
                        )
                    self._save_segment(job.id, seq, result)
                by = self._cancelled(job.id)
                if by:
                    raise JobFailed(f"Cancelled by {by}.")
                if self._stop.is_set():
                    raise _Stopping
        except BrokenProcessPool:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            raise JobFailed(
                "A video worker stopped unexpectedly while analysing this video; start the job "
                "again."
            ) from None
        finally:
            for future in pending:
                future.cancel()

    def _save_segment(self, job_id: str, seq: int, result: dict[str, Any]) -> None:
        frames = result["frames"]
        with self.sessions.begin() as s:
            s.add(
                VideoJobSegment(
                    job_id=job_id,
                    seq=seq,
                    frames=len(frames),
                    faces=json.dumps(frames, separators=(",", ":")),
                )
            )
            s.execute(
                update(VideoJob)
                .where(VideoJob.id == job_id)
                .values(frames_done=VideoJob.frames_done + len(frames))
            )

    def _observations(self, job_id: str) -> list[tuple[int, list[Observation]]]:
        out = []
        with self.sessions() as s:
            for seg in s.scalars(
                select(VideoJobSegment)
                .where(VideoJobSegment.job_id == job_id)
                .order_by(VideoJobSegment.seq)
            ):
                for frame in json.loads(seg.faces):
                    t = frame["t"]
                    out.append(
                        (
                            t,
                            [
                                Observation(
                                    t,
                                    tuple(face["box"]),
                                    analysis.decode_vector(face["vector"]),
                                    tuple(face["rank"]),
                                    face["detail"],
                                )
                                for face in frame["faces"]
                            ],
                        )
                    )
        return out

    def _search(self, job: VideoJob, tracks: list[Track]) -> dict[int, list[dict[str, Any]]]:
        """Each person's matches: searched with their best faces, best similarity per face."""
        threshold = job.effective_threshold or 0.0
        matches: dict[int, list[dict[str, Any]]] = {}
        for track in tracks:
            best: dict[str, dict[str, Any]] = {}
            for obs in track.best(FACES_SEARCHED_PER_PERSON):
                found = self.gallery.search_faces_by_vector(
                    job.organization_id,
                    job.collection or "",
                    {"vector": obs.vector, "detail": obs.detail},
                    job.max_matches,
                    threshold,
                )
                for m in found["FaceMatches"]:
                    face_id = m["Face"]["FaceId"]
                    if face_id not in best or m["Similarity"] > best[face_id]["Similarity"]:
                        best[face_id] = m
            ranked = sorted(best.values(), key=lambda m: m["Similarity"], reverse=True)
            if ranked:
                matches[track.index] = ranked[: job.max_matches]
        return matches

    def _finish(self, job: VideoJob, metadata: VideoMetadata) -> None:
        frames = self._observations(job.id)
        tracks: list[Track] = []
        matches: dict[int, list[dict[str, Any]]] = {}
        if job.kind == "search":
            tracks = track_faces(frames)
            matches = self._search(job, tracks)
            rows = person_rows(tracks, {} if job.review_required else matches)
        else:
            rows = detection_rows(frames)
        crops = self._crops(job, tracks, matches) if job.review_required and matches else {}
        principal = self._principal(job)
        now = self.clock()
        with self.sessions.begin() as s:
            job_row = s.get(VideoJob, job.id)
            assert job_row is not None
            if job_row.status != "IN_PROGRESS":
                return  # cancelled or failed meanwhile
            store_rows(s, job.id, rows)
            matched = sorted({m["Face"]["FaceId"] for ms in matches.values() for m in ms})
            if matched and job.collection:
                touch(s, job.organization_id, job.collection, matched, [], now)
            review_ids = []
            for track in tracks:
                if job.review_required and track.index in matches:
                    review_ids.append(
                        self.reviews.open(
                            principal,
                            operation="StartFaceSearch",
                            collection=job.collection or "",
                            case_reference=job.case_reference,
                            requested_threshold=job.requested_threshold or 0.0,
                            effective_threshold=job.effective_threshold or 0.0,
                            result=_sealed(job, track, matches[track.index], rows),
                            probe_crop=crops.get(track.index),
                            session=s,
                        )
                    )
            job_row.review_ids = json.dumps(review_ids)
            s.execute(delete(VideoJobSegment).where(VideoJobSegment.job_id == job.id))
            job_row.frames_total = job_row.frames_done  # the estimate gives way to the count
            self._end(s, job_row, "SUCCEEDED", "")
            entry = self._entry(job_row, "allow")
            entry.result_count = len(tracks) if job.kind == "search" else len(rows)
            entry.face_ids = [] if job.review_required else matched
            entry.review_id = review_ids[0] if review_ids else ""
            entry.detail = {
                "frames": len(frames),
                "duration_ms": metadata.duration_ms,
                "people": len(tracks),
                "review_ids": review_ids,
            }
            self.audit.append(entry, session=s)

    def _crops(
        self, job: VideoJob, tracks: list[Track], matches: dict[int, list[dict[str, Any]]]
    ) -> dict[int, bytes]:
        """Each matched person's best face, cropped, for the reviewers."""
        path = self._path(job)
        out = {}
        for track in tracks:
            if track.index in matches:
                best = track.best(1)[0]
                crop = analysis.crop_at(str(path), best.timestamp_ms, list(best.box))
                if crop is not None:
                    out[track.index] = crop
        return out

    def _principal(self, job: VideoJob) -> Principal:
        who = json.loads(job.requester or "{}")
        return Principal(
            access_key_id=job.access_key_id,
            organization_id=job.organization_id,
            organization=who.get("organization", ""),
            sector=who.get("sector", ""),
            operator=False,
            holder=job.holder,
            member=who.get("member", ""),
            roles=tuple(who.get("roles", ())),
            use_case_id=job.use_case_id,
            purpose=who.get("purpose", ""),
            review_quorum=int(who.get("review_quorum", 1)),
        )

    def _entry(self, job: VideoJob, decision: str) -> Entry:
        who = json.loads(job.requester or "{}")
        return Entry(
            operation=OUTCOME_OPERATION[job.kind],
            decision=decision,
            organization=who.get("organization", ""),
            sector=who.get("sector", ""),
            access_key_id=job.access_key_id,
            member=who.get("member", ""),
            roles=who.get("roles", ()),
            use_case_id=job.use_case_id,
            purpose=who.get("purpose", ""),
            resource=f"VideoJob:{who.get('organization', '')}/{job.id}",
            case_reference=job.case_reference,
            warrant_reference=job.warrant_reference,
            requested_threshold=job.requested_threshold,
            effective_threshold=job.effective_threshold,
        )

    def _end(self, s: Session, job: VideoJob, status: str, message: str) -> None:
        job.status = status
        job.status_message = message
        job.finished_at = self.clock()
        if status == "FAILED":
            s.execute(delete(VideoJobSegment).where(VideoJobSegment.job_id == job.id))
            entry = self._entry(job, "error")
            entry.reasons = message
            entry.error_type = "VideoJobFailed"
            self.audit.append(entry, session=s)

    def _fail(self, job_id: str, message: str) -> None:
        with self.sessions.begin() as s:
            job = s.get(VideoJob, job_id)
            if job is not None and job.status in ("QUEUED", "IN_PROGRESS"):
                self._end(s, job, "FAILED", message)


class _Stopping(Exception):
    """The server is stopping: leave the job IN_PROGRESS; it resumes at the next start."""


def _sealed(
    job: VideoJob, track: Track, matches: list[dict[str, Any]], rows: list[tuple[int, int, dict]]
) -> dict[str, Any]:
    """What a reviewer decides on for one person: their matches and where they are seen."""
    return {
        "FaceMatches": matches,
        "Person": {"Index": track.index, "From": track.start_ms, "To": track.end_ms},
        "Persons": [
            {**body, "FaceMatches": matches} for _t, index, body in rows if index == track.index
        ],
        "JobId": job.id,
    }


def status_view(job: VideoJob) -> dict[str, Any]:
    """A job's status in Rekognition's fields, plus facegate's progress and review ids."""
    metadata = json.loads(job.video_metadata or "{}")
    status = "IN_PROGRESS" if job.status == "QUEUED" else job.status
    out: dict[str, Any] = {"JobId": job.id, "JobStatus": status}
    if job.status_message:
        out["StatusMessage"] = job.status_message
    if metadata:
        out["VideoMetadata"] = VideoMetadata.from_dict(metadata).to_rekognition()
    if job.video_id:
        out["Video"] = {"S3Object": {"Bucket": STORE_BUCKET, "Name": job.video_id}}
    else:
        out["Video"] = {"S3Object": {"Bucket": DIRECTORY_BUCKET, "Name": job.video_name}}
    if job.job_tag:
        out["JobTag"] = job.job_tag
    percent = 100.0 if job.status == "SUCCEEDED" else 0.0
    if job.status != "SUCCEEDED" and job.frames_total:
        percent = min(99.0, 100.0 * job.frames_done / job.frames_total)
    out["Progress"] = {
        "Percent": round(percent, 1),
        "FramesDone": job.frames_done,
        "FramesTotal": max(job.frames_total, job.frames_done),
        "Queued": job.status == "QUEUED",
    }
    reviews = json.loads(job.review_ids or "[]")
    if job.review_required:
        out["ReviewRequired"] = True
        out["ReviewIds"] = reviews
    return out
