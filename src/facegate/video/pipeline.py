"""What running a video job does: segments -> tracking -> search -> the stored answer.

The video is split into segments (:mod:`facegate.video.segments`) that the video pool
analyses in parallel; each finished segment is saved with the job's progress, so that a job
interrupted by a crash resumes from the segments it has. When every segment is in, the faces
are tracked (:mod:`facegate.video.tracking`), each person is searched with their best faces,
and in one transaction the answer is stored, the segments (which hold vectors of everyone in
the footage) are deleted, the reviews opened (HUMAN-REVIEW) and the outcome recorded in the
audit log.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.log import AuditLog
from facegate.errors import FacegateError
from facegate.gallery.store import Gallery
from facegate.policy.deadlines import touch
from facegate.policy.reviews import Reviews
from facegate.video import analysis
from facegate.video.analysis import VideoPool
from facegate.video.media import VideoError, VideoMetadata, probe
from facegate.video.repository import JobRepository, outcome_entry, principal_of
from facegate.video.results import detection_rows, person_rows, store_rows
from facegate.video.segments import expected_frames, segments_of
from facegate.video.store import VideoStore
from facegate.video.tables import VideoJob, VideoJobSegment
from facegate.video.tracking import Observation, Track, track_faces

FACES_SEARCHED_PER_PERSON = 3
TRUNCATION_TOLERANCE_MS = 1_000
Rows = list[tuple[int, int, dict]]


class JobFailed(Exception):
    """The job cannot finish; the message becomes its ``StatusMessage``."""


class Stopping(Exception):
    """The server is stopping: leave the job IN_PROGRESS; it resumes at the next start."""


class Pipeline:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: VideoStore,
        gallery: Gallery,
        reviews: Reviews,
        audit: AuditLog,
        jobs: JobRepository,
        clock: Callable[[], datetime],
    ):
        self.sessions = sessions
        self.store = store
        self.gallery = gallery
        self.reviews = reviews
        self.audit = audit
        self.jobs = jobs
        self.clock = clock

    def run(self, job_id: str, pool: VideoPool, stop: threading.Event) -> None:
        """Run a claimed (IN_PROGRESS) job to its end, from the segments it already has.
        When ``stop`` is set, the job is left IN_PROGRESS after its current segments."""
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
            path = self.path(job)
            metadata = probe(path)
            if job.kind == "search" and metadata.duration_ms > job.counted_seconds * 1000 + 1000:
                raise JobFailed(
                    "The video is longer than when the job was started; start a new job."
                )
            self.analyse(job, path, metadata, done, pool, stop)
            by = self.jobs.cancelled_by(job_id)
            if by:
                raise JobFailed(f"Cancelled by {by}.")
            self.finish(job, metadata)
        except Stopping:
            return  # left IN_PROGRESS: resumed from its saved segments at the next start
        except (VideoError, JobFailed) as exc:
            self.jobs.fail(job_id, str(exc))
        except FacegateError as exc:  # the video was deleted, the directory moved, ...
            self.jobs.fail(job_id, exc.message)

    def path(self, job: VideoJob) -> Path:
        """The file of the job's video (a stored one, or one in the video directory)."""
        if job.video_id is not None:
            with self.sessions() as s:
                row = self.store.get(s, job.organization_id, job.video_id)
                return self.store.path_of(row)
        path, _ = self.store.in_directory(job.video_name)
        return path

    # --- segments ----------------------------------------------------------------------------

    def analyse(
        self,
        job: VideoJob,
        path: Path,
        metadata: VideoMetadata,
        done: dict[int, int],
        pool: VideoPool,
        stop: threading.Event,
    ) -> None:
        """Have the pool analyse every segment not in ``done``, saving each as it ends."""
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
            executor = pool.get()
            for seq, (start, end) in enumerate(segments):
                if seq not in done:
                    future = executor.submit(
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
                    self.save_segment(job.id, seq, result)
                by = self.jobs.cancelled_by(job.id)
                if by:
                    raise JobFailed(f"Cancelled by {by}.")
                if stop.is_set():
                    raise Stopping
        except BrokenProcessPool:
            pool.discard()
            raise JobFailed(
                "A video worker stopped unexpectedly while analysing this video; start the job "
                "again."
            ) from None
        finally:
            for future in pending:
                future.cancel()

    def save_segment(self, job_id: str, seq: int, result: dict[str, Any]) -> None:
        """Keep one analysed segment (what a resumed job starts from) and count its frames."""
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

    def observations(self, job_id: str) -> list[tuple[int, list[Observation]]]:
        """Every sampled frame of the saved segments: (timestamp, the faces seen in it)."""
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

    # --- the answer --------------------------------------------------------------------------

    def search(self, job: VideoJob, tracks: list[Track]) -> dict[int, list[dict[str, Any]]]:
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

    def finish(self, job: VideoJob, metadata: VideoMetadata) -> None:
        """Track, search, and in one transaction: the answer, the reviews, the record."""
        frames = self.observations(job.id)
        tracks: list[Track] = []
        matches: dict[int, list[dict[str, Any]]] = {}
        if job.kind == "search":
            tracks = track_faces(frames)
            matches = self.search(job, tracks)
            rows = person_rows(tracks, {} if job.review_required else matches)
        else:
            rows = detection_rows(frames)
        crops = self.crops(job, tracks, matches) if job.review_required and matches else {}
        principal = principal_of(job)
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
                            result=sealed(job, track, matches[track.index], rows),
                            probe_crop=crops.get(track.index),
                            session=s,
                        )
                    )
            job_row.review_ids = json.dumps(review_ids)
            s.execute(delete(VideoJobSegment).where(VideoJobSegment.job_id == job.id))
            job_row.frames_total = job_row.frames_done  # the estimate gives way to the count
            self.jobs.end(s, job_row, "SUCCEEDED", "")
            entry = outcome_entry(job_row, "allow")
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

    def crops(
        self, job: VideoJob, tracks: list[Track], matches: dict[int, list[dict[str, Any]]]
    ) -> dict[int, bytes]:
        """Each matched person's best face, cropped, for the reviewers."""
        path = self.path(job)
        out = {}
        for track in tracks:
            if track.index in matches:
                best = track.best(1)[0]
                crop = analysis.crop_at(str(path), best.timestamp_ms, list(best.box))
                if crop is not None:
                    out[track.index] = crop
        return out


def sealed(
    job: VideoJob, track: Track, matches: list[dict[str, Any]], rows: Rows
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
