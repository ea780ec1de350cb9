"""Video jobs in-process, without a server: the jobs repository, the dispatcher's queue and the
pipeline over a real database (SQLite and PostgreSQL), the real clip and the real engine.

The clip (tests/data/face_recognition/short_hamilton_clip.mp4) lasts 9.2 s, so a job over it
counts 10 seconds of video.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from facegate.auth.secrets import SecretBox
from facegate.config import Settings, VideoSettings
from facegate.errors import (
    ConflictException,
    IdempotentParameterMismatchException,
    InvalidPaginationTokenException,
    ResourceNotFoundException,
)
from facegate.gallery.indexes import IndexRegistry
from facegate.gallery.store import Gallery
from facegate.gallery.tokens import TokenSigner
from facegate.policy.registry import Principal
from facegate.policy.reviews import Reviews
from facegate.video import analysis
from facegate.video.dispatcher import MAX_ATTEMPTS
from facegate.video.jobs import VideoJobs
from facegate.video.media import probe
from facegate.video.repository import JobRequest
from facegate.video.segments import segments_of
from facegate.video.store import VideoStore
from facegate.video.tables import VideoJob, VideoJobResult, VideoJobSegment
from facegate.vision import workers
from facegate.vision.calibration import shipped_calibration
from facegate.vision.models import DEFAULT_CHAIN
from tests.conftest import DATA
from tests.in_process import DATABASES, Database, caller

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
LIBRARY = DATA / "face_recognition"
CLIP = {"S3Object": {"Bucket": "library", "Name": "short_hamilton_clip.mp4"}}


class Clock:
    """A second later at every reading: jobs are created in a known order."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class World(Database):
    """Video jobs as the server composes them, over a fresh database, with two
    organizations (city and town) whose keys start jobs."""

    def __init__(self, request, tmp_path) -> None:
        super().__init__(request, tmp_path)
        self.clock = Clock()
        box = SecretBox(Fernet.generate_key())
        self.settings = Settings(
            data_dir=tmp_path,
            video=VideoSettings(directory=LIBRARY, sample_fps=2.0, workers=1),
        )
        store = VideoStore(self.sessions, tmp_path / "videos", self.settings.video, self.clock)
        gallery = Gallery(
            self.sessions,
            IndexRegistry(self.sessions, tmp_path / "index", 100_000),
            TokenSigner(b"video jobs test key"),
            shipped_calibration(DEFAULT_CHAIN.calibration),
            DEFAULT_CHAIN.version,
            box,
        )
        reviews = Reviews(self.sessions, box, clock=self.clock)
        self.jobs = VideoJobs(
            self.sessions, store, gallery, reviews, self.audit, self.settings, self.clock
        )
        self.city = self.key_of("city")
        self.town = self.key_of("town")

    def key_of(self, name: str) -> Principal:
        """A government organization's service key."""
        org = (self.organization(name, "government"), name, "government")
        return caller(org, f"key:AKID{name.upper()}", "", "analyst")

    def start(self, who: Principal, **asked) -> str:
        """A detection job over the clip in the video directory; its JobId."""
        located = self.jobs.locate(who.organization_id, CLIP)
        record = self.recorder("StartFaceDetection", who)
        answer = self.jobs.repository.create(who, "detection", located, JobRequest(**asked), record)
        return answer["JobId"]

    def job(self, job_id: str) -> VideoJob:
        with self.sessions() as s:
            job = s.get(VideoJob, job_id)
            assert job is not None
            return job


@pytest.fixture(params=DATABASES)
def world(request, tmp_path):
    made = World(request, tmp_path)
    yield made
    made.close()


def test_a_job_is_created_queued_with_its_counted_seconds_and_its_record(world):
    job_id = world.start(world.city, token="t-1", digest="d-1", job_tag="first")
    job = world.job(job_id)
    assert (job.status, job.kind, job.video_name) == (
        "QUEUED",
        "detection",
        CLIP["S3Object"]["Name"],
    )
    assert job.counted_seconds == 10  # 9.2 s of video, counted in whole seconds
    assert job.frames_total == 19  # 9.2 s sampled at 2 frames per second
    assert job.sample_fps == 2.0 and job.attempts == 0
    assert world.records() == [("StartFaceDetection", "allow", "")]
    described = world.jobs.describe(world.city.organization_id, job_id)
    assert described["JobStatus"] == "IN_PROGRESS"  # queued is in progress to clients
    assert described["Progress"] == {
        "Percent": 0.0,
        "FramesDone": 0,
        "FramesTotal": 19,
        "Queued": True,
    }
    assert described["JobTag"] == "first"
    assert 9_000 < described["VideoMetadata"]["DurationMillis"] < 9_500


def test_a_job_and_its_record_commit_together(world):
    def failing(_session, _answer) -> None:
        raise RuntimeError("the audit log is away")

    located = world.jobs.locate(world.city.organization_id, CLIP)
    with pytest.raises(RuntimeError):
        world.jobs.repository.create(world.city, "detection", located, JobRequest(), failing)
    assert world.jobs.listing(world.city.organization_id) == []


def test_a_repeated_client_request_token_returns_the_earlier_job(world):
    org = world.city.organization_id
    job_id = world.start(world.city, token="t-1", digest="d-1")
    earlier = world.jobs.repository.earlier
    assert earlier(org, "detection", "t-1", "d-1") == job_id
    assert earlier(org, "detection", "t-2", "d-1") is None
    assert earlier(org, "search", "t-1", "d-1") is None  # tokens are per operation
    assert earlier(world.town.organization_id, "detection", "t-1", "d-1") is None
    assert earlier(org, "detection", None, "d-1") is None
    with pytest.raises(IdempotentParameterMismatchException):
        earlier(org, "detection", "t-1", "other parameters")


def test_a_queued_job_is_cancelled_at_once_and_recorded(world):
    org = world.city.organization_id
    job_id = world.start(world.city)
    repository = world.jobs.repository
    cancelled = repository.cancel(org, job_id, "key:AKIDCITY", world.recorder("Cancel", world.city))
    assert cancelled["JobStatus"] == "FAILED"
    assert cancelled["StatusMessage"] == "Cancelled by key:AKIDCITY."
    assert world.job(job_id).finished_at is not None
    operations = [(op, decision) for op, decision, _ in world.records()]
    # the job's outcome (an error, in the cancel's transaction), then the cancel request
    assert operations == [
        ("StartFaceDetection", "allow"),
        ("FaceDetectionJob", "error"),
        ("Cancel", "allow"),
    ]
    assert world.records()[1][2] == f"VideoJob:city/{job_id}"
    with pytest.raises(ConflictException, match="has ended"):
        repository.cancel(org, job_id, "key:AKIDCITY", world.recorder("Cancel", world.city))
    with pytest.raises(ResourceNotFoundException):
        repository.cancel(
            world.town.organization_id, job_id, "key:AKIDTOWN", world.recorder("Cancel", world.town)
        )
    assert len(world.records()) == 3


def test_a_running_job_is_only_marked_for_cancelling(world):
    org = world.city.organization_id
    job_id = world.start(world.city)
    assert world.jobs.dispatcher.claim() == job_id
    out = world.jobs.cancel(org, job_id, "member:7", world.recorder("Cancel", world.city))
    assert out["JobStatus"] == "IN_PROGRESS"
    assert world.jobs.repository.cancelled_by(job_id) == "member:7"


def test_the_dispatcher_takes_the_oldest_job_and_counts_interruptions(world):
    first, second = world.start(world.city), world.start(world.town)
    dispatcher = world.jobs.dispatcher
    assert dispatcher.claim() == first
    assert dispatcher.claim() == second
    assert dispatcher.claim() is None
    for attempt in range(1, MAX_ATTEMPTS):
        assert dispatcher.recover() == {"resumed": 2, "failed": 0}
        assert world.job(first).status == "QUEUED"
        assert dispatcher.claim() == first and dispatcher.claim() == second
        assert world.job(first).attempts == attempt + 1
    assert dispatcher.recover() == {"resumed": 0, "failed": 2}
    failed = world.job(first)
    assert failed.status == "FAILED"
    assert failed.status_message.startswith(f"The job was interrupted {MAX_ATTEMPTS} times")


def test_a_job_of_another_organization_is_not_found(world):
    job_id = world.start(world.city)
    with pytest.raises(ResourceNotFoundException):
        world.jobs.describe(world.town.organization_id, job_id)
    with pytest.raises(ResourceNotFoundException):
        world.jobs.results(world.city.organization_id, job_id, "search", 10, None, "TIMESTAMP")
    assert world.jobs.listing(world.town.organization_id) == []


@pytest.fixture(scope="module")
def analysed(engine) -> list[tuple[int, dict]]:
    """The clip's segments as a video worker answers them (in this process, on the video
    settings' engine): (seq, result) for every segment of a job sampling 2 frames a second."""
    settings = Settings(video=VideoSettings(directory=LIBRARY, sample_fps=2.0))
    workers.engine(analysis.engine_settings(settings))
    clip = str(LIBRARY / CLIP["S3Object"]["Name"])
    return [
        (seq, analysis.analyze_segment(clip, start, end, 2.0))
        for seq, (start, end) in enumerate(segments_of(9_243, 2.0))
    ]


@pytest.mark.models
def test_the_pipeline_stores_the_answer_and_it_comes_in_pages(world, analysed):
    org = world.city.organization_id
    job_id = world.start(world.city)
    assert world.jobs.dispatcher.claim() == job_id
    pipeline = world.jobs.pipeline
    for seq, result in analysed:
        pipeline.save_segment(job_id, seq, result)
    progress = world.jobs.describe(org, job_id)["Progress"]
    assert (progress["FramesDone"], progress["FramesTotal"]) == (19, 19)
    assert progress["Percent"] == 99.0  # never 100 before the answer is stored
    seen = sum(len(frame["faces"]) for _seq, result in analysed for frame in result["frames"])
    # Lin-Manuel Miranda is seen from about 2.8 s to 7.2 s (and someone else near the end)
    assert seen >= 6

    job = world.job(job_id)
    pipeline.finish(job, probe(pipeline.path(job)))
    job = world.job(job_id)
    assert (job.status, job.status_message) == ("SUCCEEDED", "")
    with world.sessions() as s:
        segments = s.scalars(select(VideoJobSegment).where(VideoJobSegment.job_id == job_id))
        assert segments.all() == []  # the vectors of everyone in the footage are gone
        rows = s.scalars(select(VideoJobResult).where(VideoJobResult.job_id == job_id)).all()
        assert len(rows) == seen
    assert world.records()[-1] == ("FaceDetectionJob", "allow", f"VideoJob:city/{job_id}")

    results = world.jobs.results
    whole = results(org, job_id, "detection", 1000, None, "TIMESTAMP")
    assert "NextToken" not in whole and len(whole["Faces"]) == seen
    assert whole["JobStatus"] == "SUCCEEDED" and whole["Progress"]["Percent"] == 100.0
    times = [face["Timestamp"] for face in whole["Faces"]]
    assert times == sorted(times) and 2_000 <= times[0] <= 3_500

    pages, token = [], None
    while True:
        answer = results(org, job_id, "detection", 4, token, "TIMESTAMP")
        assert len(answer["Faces"]) <= 4
        pages.append(answer["Faces"])
        token = answer.get("NextToken")
        if token is None:
            break
    assert len(pages) == -(-seen // 4)
    assert [face for page in pages for face in page] == whole["Faces"]
    first_token = results(org, job_id, "detection", 4, None, "TIMESTAMP")["NextToken"]
    with pytest.raises(InvalidPaginationTokenException):
        results(org, job_id, "detection", 4, first_token, "INDEX")  # a token of another order


def test_a_job_that_ended_meanwhile_gets_no_answer(world):
    job_id = world.start(world.city)
    assert world.jobs.dispatcher.claim() == job_id
    world.jobs.repository.fail(job_id, "The video was deleted.")
    job = world.job(job_id)
    world.jobs.pipeline.finish(job, probe(world.jobs.pipeline.path(job)))
    assert world.job(job_id).status_message == "The video was deleted."
    with world.sessions() as s:
        assert s.scalars(select(VideoJobResult).where(VideoJobResult.job_id == job_id)).all() == []
    assert [op for op, _d, _r in world.records()] == ["StartFaceDetection", "FaceDetectionJob"]
