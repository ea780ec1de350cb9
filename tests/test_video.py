"""Video jobs end to end: a real server, the real models, a real H.264 clip, boto3 and REST.

The clip (tests/data/face_recognition/short_hamilton_clip.mp4, 9.2 s, 640x360) shows
Lin-Manuel Miranda from about 2.8 s to 7.2 s, and briefly someone else near the end. The
collection holds Lin-Manuel Miranda and Alex Lacamoire.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import av
import httpx
import pytest
from botocore.exceptions import ClientError
from sqlalchemy import create_engine, text

from tests.conftest import DATA
from tests.server import BASIS, Server, run_cli

pytestmark = [pytest.mark.models, pytest.mark.slow]

CLIP = DATA / "face_recognition" / "short_hamilton_clip.mp4"
CAST = ("lin-manuel-miranda", "alex-lacamoire")
MEDIA_OPERATIONS = ("verify", "identify", "video-identify", "enroll", "manage", "detect")
CASE = {"X-Facegate-Case": "MP-2026-0117"}


def faststart(path: Path) -> Path:
    """The clip remuxed with its header first (as cameras and web encoders write it)."""
    out_path = path.with_name("faststart.mp4")
    with (
        av.open(str(CLIP)) as src,
        av.open(str(out_path), "w", format="mp4", options={"movflags": "faststart"}) as out,
    ):
        stream = src.streams.video[0]
        target = out.add_stream_from_template(stream)
        for packet in src.demux(stream):
            if packet.dts is not None:
                packet.stream = target
                out.mux(packet)
    return out_path


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """The operator's video directory: the clip, a truncated copy, and a text file."""
    folder = tmp_path_factory.mktemp("library")
    shutil.copy(CLIP, folder / "clip.mp4")
    whole = CLIP.read_bytes()
    (folder / "cut.mp4").write_bytes(whole[: len(whole) // 2])  # header (moov) at the end: lost
    fast = faststart(folder / "clip.mp4").read_bytes()
    (folder / "cut-faststart.mp4").write_bytes(fast[: len(fast) // 2])  # frames end at 4.4 s
    (folder / "notes.mp4").write_text("Not a video, only named like one.\n" * 20)
    (tmp_path_factory.getbasetemp() / "outside.mp4").write_bytes(whole)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory, backend, library):
    srv = Server(
        tmp_path_factory.mktemp("video"),
        FACEGATE_WORKERS="1",
        FACEGATE_VIDEO_DIR=str(library),
        FACEGATE_VIDEO_MAX_BYTES="1500000",
        FACEGATE_THRESHOLD_FLOORS="missing_persons=90",
        **backend,
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def media(server):
    """A media archive's key, its collection of the cast, and the uploaded clip's id."""
    keys = server.governed_keys("newsroom", purpose="media_archive", operations=MEDIA_OPERATIONS)
    client = server.client(keys, headers=BASIS)
    client.create_collection(CollectionId="cast")
    faces = {}
    for name in CAST:
        record = client.index_faces(
            CollectionId="cast",
            Image={"Bytes": (DATA / "face_recognition" / f"{name}.png").read_bytes()},
            ExternalImageId=name,
        )["FaceRecords"]
        faces[name] = record[0]["Face"]["FaceId"]
    video_id = upload(server, keys, CLIP.read_bytes()).json()["VideoId"]
    return keys, client, faces, video_id


def upload(server: Server, keys, body: bytes) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/videos",
        content=body,
        headers={"X-Api-Key": f"{keys[0]}:{keys[1]}", "Content-Type": "video/mp4"},
        timeout=120,
    )


def stored(video_id: str) -> dict:
    return {"S3Object": {"Bucket": "facegate", "Name": video_id}}


def finished(get, job_id: str, timeout: float = 240, **kwargs) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = get(JobId=job_id, **kwargs)
        if answer["JobStatus"] != "IN_PROGRESS":
            return answer
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still running after {timeout} s")


def all_pages(get, job_id: str, key: str, **kwargs) -> list[dict]:
    entries, token = [], None
    while True:
        answer = get(JobId=job_id, **kwargs, **({"NextToken": token} if token else {}))
        entries += answer[key]
        token = answer.get("NextToken")
        if not token:
            return entries


def _error(excinfo) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


# --- search --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def searched(media):
    _keys, client, _faces, video_id = media
    job = client.start_face_search(
        Video=stored(video_id), CollectionId="cast", FaceMatchThreshold=80, JobTag="hamilton"
    )
    answer = finished(client.get_face_search, job["JobId"])
    assert answer["JobStatus"] == "SUCCEEDED", answer.get("StatusMessage")
    return job["JobId"], answer


def test_search_finds_lin_manuel_miranda_where_he_is_visible(media, searched):
    _keys, _client, faces, _video = media
    _job_id, answer = searched
    assert answer["VideoMetadata"]["Codec"] == "h264"
    assert answer["VideoMetadata"]["FrameWidth"] == 640
    assert 9000 <= answer["VideoMetadata"]["DurationMillis"] <= 10100
    assert answer["JobTag"] == "hamilton"
    persons = answer["Persons"]
    matched = [p for p in persons if p["FaceMatches"]]
    lin = {m["Face"]["FaceId"] for p in matched for m in p["FaceMatches"]}
    assert lin == {faces["lin-manuel-miranda"]}
    times = [p["Timestamp"] for p in matched]
    assert 2400 <= min(times) <= 3300 and 6700 <= max(times) <= 7600
    # One person, one Index, across the whole time he is visible.
    assert len({p["Person"]["Index"] for p in matched}) == 1
    # Everyone else in the clip is reported, with no match.
    others = [
        p for p in persons if p["Person"]["Index"] not in {m["Person"]["Index"] for m in matched}
    ]
    assert others and all(p["FaceMatches"] == [] for p in others)
    assert all(p["Timestamp"] > 7600 or p["Timestamp"] < 2400 for p in others)
    for p in persons:
        box = p["Person"]["BoundingBox"]
        assert 0 <= box["Left"] <= 1 and 0 < box["Width"] <= 1
        assert p["Person"]["Face"]["BoundingBox"] == box
    best = matched[0]["FaceMatches"][0]
    assert best["Similarity"] >= 80 and best["Face"]["ExternalImageId"] == "lin-manuel-miranda"


def test_sort_by_index_and_timestamp_hold_the_same_entries(media, searched):
    _keys, client, _faces, _video = media
    job_id, answer = searched
    by_time = all_pages(client.get_face_search, job_id, "Persons", SortBy="TIMESTAMP", MaxResults=4)
    by_index = all_pages(client.get_face_search, job_id, "Persons", SortBy="INDEX", MaxResults=7)

    def key(p):
        return (p["Timestamp"], p["Person"]["Index"])

    assert (
        sorted(by_time, key=key) == sorted(by_index, key=key) == sorted(answer["Persons"], key=key)
    )
    assert [p["Timestamp"] for p in by_time] == sorted(p["Timestamp"] for p in by_time)
    indexes = [(p["Person"]["Index"], p["Timestamp"]) for p in by_index]
    assert indexes == sorted(indexes)


def test_pagination_tokens_belong_to_their_job_and_order(media, searched):
    _keys, client, _faces, _video = media
    job_id, _answer = searched
    first = client.get_face_search(JobId=job_id, MaxResults=3, SortBy="INDEX")
    with pytest.raises(ClientError) as excinfo:
        client.get_face_search(
            JobId=job_id, MaxResults=3, SortBy="TIMESTAMP", NextToken=first["NextToken"]
        )
    assert _error(excinfo)[0] == "InvalidPaginationTokenException"


def test_detection_job_reports_faces_with_timestamps(media):
    _keys, client, _faces, video_id = media
    job = client.start_face_detection(Video=stored(video_id))
    answer = finished(client.get_face_detection, job["JobId"])
    assert answer["JobStatus"] == "SUCCEEDED"
    faces = answer["Faces"]
    assert len(faces) >= 15
    assert [f["Timestamp"] for f in faces] == sorted(f["Timestamp"] for f in faces)
    assert all(
        {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality"} <= set(f["Face"])
        for f in faces
    )
    assert not any("AgeRange" in f["Face"] or "Gender" in f["Face"] for f in faces)


def test_client_request_token_returns_the_same_job(media):
    _keys, client, _faces, video_id = media
    one = client.start_face_detection(Video=stored(video_id), ClientRequestToken="tok-1")
    two = client.start_face_detection(Video=stored(video_id), ClientRequestToken="tok-1")
    assert one["JobId"] == two["JobId"]
    with pytest.raises(ClientError) as excinfo:
        client.start_face_detection(
            Video=stored(video_id), ClientRequestToken="tok-1", JobTag="different"
        )
    assert _error(excinfo)[0] == "IdempotentParameterMismatchException"
    finished(client.get_face_detection, one["JobId"])


def test_rest_door_shows_progress_and_lists_jobs(server, media, searched):
    keys, _client, _faces, _video = media
    job_id, _answer = searched
    with httpx.Client(
        base_url=f"{server.url}/v1", headers={"X-Api-Key": f"{keys[0]}:{keys[1]}"}, timeout=60
    ) as rest:
        status = rest.get(f"/video/jobs/{job_id}").json()
        assert status["JobStatus"] == "SUCCEEDED"
        progress = status["Progress"]
        assert progress["Percent"] == 100 and progress["FramesDone"] == progress["FramesTotal"] > 30
        listed = rest.get("/video/jobs").json()["Jobs"]
        assert job_id in [j["JobId"] for j in listed]
        page = rest.get(
            f"/video/face-searches/{job_id}", params={"sort_by": "INDEX", "max_results": 2}
        ).json()
        assert len(page["Persons"]) == 2 and page["NextToken"]


def test_another_organization_cannot_see_the_job_or_the_video(server, media, searched):
    _keys, _client, _faces, video_id = media
    job_id, _answer = searched
    stranger = server.client(
        server.governed_keys("elsewhere", purpose="media_archive", operations=MEDIA_OPERATIONS)
    )
    with pytest.raises(ClientError) as excinfo:
        stranger.get_face_search(JobId=job_id)
    assert _error(excinfo)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        stranger.start_face_detection(Video=stored(video_id))
    assert _error(excinfo)[0] == "InvalidS3ObjectException"


# --- the video store ---------------------------------------------------------------------------


def test_uploads_are_checked_by_header_and_size(server, media):
    keys = media[0]
    text_file = upload(server, keys, b"This is a text file named video.mp4\n" * 100)
    assert text_file.status_code == 400
    assert text_file.json()["error"]["type"] == "InvalidParameterException"
    assert "not a readable video" in text_file.json()["error"]["message"]
    big = upload(server, keys, b"\0" * 1_600_000)
    assert big.status_code == 413 and big.json()["error"]["type"] == "VideoTooLargeException"
    incoming = server.data_dir / "videos" / ".incoming"
    assert list(incoming.iterdir()) == []  # nothing half-written is left behind


def test_paths_outside_the_video_directory_are_refused(media):
    _keys, client, _faces, _video = media
    for name in ("../outside.mp4", "/etc/passwd", "clip.mp4/../../outside.mp4"):
        with pytest.raises(ClientError) as excinfo:
            client.start_face_detection(Video={"S3Object": {"Bucket": "library", "Name": name}})
        assert _error(excinfo)[0] == "InvalidParameterException", name


@pytest.mark.parametrize(
    "name, message",
    [
        ("notes.mp4", "not a readable video"),
        ("cut.mp4", "not a readable video"),
        ("cut-faststart.mp4", "truncated or corrupt"),
    ],
)
def test_bad_files_fail_the_job_cleanly(server, media, name, message):
    _keys, client, _faces, _video = media
    job = client.start_face_detection(Video={"S3Object": {"Bucket": "library", "Name": name}})
    answer = finished(client.get_face_detection, job["JobId"])
    assert answer["JobStatus"] == "FAILED"
    assert message in answer["StatusMessage"]
    assert answer["Faces"] == []
    assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200


def test_a_file_in_the_video_directory_can_be_searched(media):
    _keys, client, faces, _video = media
    job = client.start_face_search(
        Video={"S3Object": {"Bucket": "library", "Name": "clip.mp4"}}, CollectionId="cast"
    )
    answer = finished(client.get_face_search, job["JobId"])
    assert answer["JobStatus"] == "SUCCEEDED"
    found = {m["Face"]["FaceId"] for p in answer["Persons"] for m in p["FaceMatches"]}
    assert found == {faces["lin-manuel-miranda"]}


def test_a_queued_job_can_be_cancelled(server, media):
    keys, client, _faces, video_id = media
    running = client.start_face_detection(Video=stored(video_id))
    queued = client.start_face_detection(Video=stored(video_id))
    with httpx.Client(
        base_url=f"{server.url}/v1", headers={"X-Api-Key": f"{keys[0]}:{keys[1]}"}, timeout=60
    ) as rest:
        cancelled = rest.post(f"/video/jobs/{queued['JobId']}/cancel")
        assert cancelled.status_code == 200, cancelled.text
    answer = client.get_face_detection(JobId=queued["JobId"])
    assert answer["JobStatus"] == "FAILED" and "Cancelled by" in answer["StatusMessage"]
    assert finished(client.get_face_detection, running["JobId"])["JobStatus"] == "SUCCEEDED"


# --- governance ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def precinct(server, media):
    """A law-enforcement organization exempt for missing-persons work, its analyst and
    reviewer, and the clip in its own store."""
    org = "precinct"
    server.organization(org, "law_enforcement")
    server.exemption(org, "missing_persons")
    use_case = server.use_case(org, "missing_persons", MEDIA_OPERATIONS)
    capped = server.use_case(org, "missing_persons", MEDIA_OPERATIONS, video_hours_per_day=0.002)
    server.member(org, "alice", "analyst")
    server.member(org, "bob", "reviewer")
    people = {
        "alice": server.key(org, use_case, "alice"),
        "bob": server.key(org, use_case, "bob"),
        "capped": server.key(org, capped, "alice"),
    }
    client = server.client(people["alice"], headers={**CASE, **BASIS})
    client.create_collection(CollectionId="missing")
    client.index_faces(
        CollectionId="missing",
        Image={"Bytes": (DATA / "face_recognition" / "lin-manuel-miranda.png").read_bytes()},
        ExternalImageId="reported-missing",
    )
    video_id = upload(server, people["alice"], CLIP.read_bytes()).json()["VideoId"]
    return people, video_id


def test_law_enforcement_video_search_needs_a_warrant(server, precinct):
    people, video_id = precinct
    client = server.client(people["alice"], headers=CASE)
    with pytest.raises(ClientError) as excinfo:
        client.start_face_search(Video=stored(video_id), CollectionId="missing")
    code, message = _error(excinfo)
    assert code == "AccessDeniedException" and "WARRANT" in message
    assert (
        excinfo.value.response["ResponseMetadata"]["HTTPHeaders"]["x-facegate-denied-by"]
        == "WARRANT"
    )


def test_video_hours_cap_counts_the_video_duration(server, precinct):
    people, _video = precinct
    capped = server.client(people["capped"], headers={**CASE, "X-Facegate-Warrant": "W-1"})
    upload_id = upload(server, people["capped"], CLIP.read_bytes()).json()["VideoId"]
    with pytest.raises(ClientError) as excinfo:  # 7.2 s a day allowed; the clip is 9.2 s
        capped.start_face_search(Video=stored(upload_id), CollectionId="missing")
    code, message = _error(excinfo)
    assert code == "LimitExceededException" and "SURVEILLANCE-LIMITS" in message


def test_warranted_search_goes_to_human_review_and_releases_a_lead(server, precinct):
    people, video_id = precinct
    alice = server.client(people["alice"], headers={**CASE, "X-Facegate-Warrant": "W-2026-77"})
    job = alice.start_face_search(
        Video=stored(video_id), CollectionId="missing", FaceMatchThreshold=50
    )
    assert job["ResponseMetadata"]["HTTPHeaders"]["x-facegate-effective-threshold"] == "90"
    answer = finished(alice.get_face_search, job["JobId"])
    assert answer["JobStatus"] == "SUCCEEDED"
    assert answer["Persons"] and all(p["FaceMatches"] == [] for p in answer["Persons"])
    auth = {"alice": people["alice"], "bob": people["bob"]}

    def rest(who):
        k = auth[who]
        return httpx.Client(
            base_url=f"{server.url}/v1", headers={"X-Api-Key": f"{k[0]}:{k[1]}"}, timeout=60
        )

    with rest("alice") as a:
        status = a.get(f"/video/jobs/{job['JobId']}").json()
    assert status["ReviewRequired"] and len(status["ReviewIds"]) == 1
    review_id = status["ReviewIds"][0]
    with rest("bob") as bob:
        shown = bob.get(f"/reviews/{review_id}").json()
        assert shown["Probe"]["Crop"]
        candidate = shown["Candidates"][0]
        assert candidate["Similarity"] >= 90
        decided = bob.post(
            f"/reviews/{review_id}/decision",
            json={
                "Decision": "CONFIRM",
                "CandidateIds": [candidate["CandidateId"]],
                "Note": "Same person: face shape, eyebrows and beard match the report photo.",
            },
        )
        assert decided.status_code == 200, decided.text
    with rest("alice") as a:
        released = a.get(f"/reviews/{review_id}/result").json()
    assert released["Label"] == "INVESTIGATIVE_LEAD"
    sightings = released["Result"]["Persons"]
    assert sightings and all(
        p["FaceMatches"][0]["Face"]["ExternalImageId"] == "reported-missing" for p in sightings
    )
    assert 2400 <= min(p["Timestamp"] for p in sightings) <= 3300


def test_the_audit_log_records_the_request_and_the_outcome(server, media, searched):
    job_id, _answer = searched
    engine = create_engine(_url(server))
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT operation, decision, resource, face_ids FROM audit_records "
                "WHERE operation IN ('StartFaceSearch', 'FaceSearchJob') ORDER BY seq"
            )
        ).all()
        leftovers = c.execute(text("SELECT count(*) FROM video_job_segments")).scalar()
    engine.dispose()
    assert any(r.operation == "StartFaceSearch" and r.decision == "allow" for r in rows)
    assert any(r.operation == "StartFaceSearch" and r.decision == "deny" for r in rows)
    [outcome] = [r for r in rows if r.operation == "FaceSearchJob" and r.resource.endswith(job_id)]
    assert outcome.decision == "allow"
    assert media[2]["lin-manuel-miranda"] in outcome.face_ids
    assert leftovers == 0  # no vectors of the people in the footage are kept after a job


def _url(server: Server) -> str:
    return server.env.get("FACEGATE_DATABASE_URL") or f"sqlite:///{server.data_dir / 'facegate.db'}"


# --- restarts ------------------------------------------------------------------------------------


def test_a_job_interrupted_by_sigkill_resumes_after_restart(tmp_path, backend, request):
    if backend:  # a database of its own (the module's server has the other)
        backend = {"FACEGATE_DATABASE_URL": request.getfixturevalue("postgres_databases")()}
    srv = Server(tmp_path / "data", FACEGATE_WORKERS="1", FACEGATE_VIDEO_SAMPLE_FPS="15", **backend)
    try:
        keys = srv.governed_keys("archive", purpose="media_archive", operations=MEDIA_OPERATIONS)
        client = srv.client(keys)
        video_id = upload(srv, keys, CLIP.read_bytes()).json()["VideoId"]
        first = client.start_face_detection(Video=stored(video_id))
        second = client.start_face_detection(Video=stored(video_id))
        deadline = time.monotonic() + 120
        with httpx.Client(
            base_url=f"{srv.url}/v1", headers={"X-Api-Key": f"{keys[0]}:{keys[1]}"}, timeout=60
        ) as rest:
            while time.monotonic() < deadline:
                progress = rest.get(f"/video/jobs/{first['JobId']}").json()["Progress"]
                if progress["FramesDone"] > 0:
                    break
                time.sleep(0.1)
        assert 0 < progress["FramesDone"] < progress["FramesTotal"]
        srv.kill()
        engine = create_engine(_url(srv))
        with engine.begin() as c:  # the second job is made to look interrupted twice before
            c.execute(
                text("UPDATE video_jobs SET status='IN_PROGRESS', attempts=3 WHERE id=:j"),
                {"j": second["JobId"]},
            )
            saved = c.execute(
                text("SELECT count(*) FROM video_job_segments WHERE job_id=:j"),
                {"j": first["JobId"]},
            ).scalar()
        engine.dispose()
        assert saved >= 1
        srv.start()
        client = srv.client(keys)
        resumed = finished(client.get_face_detection, first["JobId"])
        assert resumed["JobStatus"] == "SUCCEEDED" and len(resumed["Faces"]) >= 40
        given_up = client.get_face_detection(JobId=second["JobId"])
        assert given_up["JobStatus"] == "FAILED"
        assert "interrupted 3 times" in given_up["StatusMessage"]
    finally:
        srv.stop()


def test_an_erased_subject_disappears_from_stored_answers(server, media):
    keys = server.governed_keys("studio", purpose="media_archive", operations=MEDIA_OPERATIONS)
    client = server.client(keys, headers=BASIS)
    client.create_collection(CollectionId="cast")
    client.index_faces(
        CollectionId="cast",
        Image={"Bytes": (DATA / "face_recognition" / "lin-manuel-miranda.png").read_bytes()},
        ExternalImageId="lmm",
    )
    video_id = upload(server, keys, CLIP.read_bytes()).json()["VideoId"]
    job = client.start_face_search(Video=stored(video_id), CollectionId="cast")
    before = finished(client.get_face_search, job["JobId"])
    assert any(p["FaceMatches"] for p in before["Persons"])
    server.ok("POST", "/erasures", {"organization": "studio", "subject": "lmm"})
    after = client.get_face_search(JobId=job["JobId"])
    assert len(after["Persons"]) == len(before["Persons"])
    assert all(p["FaceMatches"] == [] for p in after["Persons"])


# --- the command line ----------------------------------------------------------------------------


def test_cli_search_prints_people_and_time_ranges(server, media):
    keys = media[0]
    env = {"FACEGATE_API_KEY": f"{keys[0]}:{keys[1]}", "FACEGATE_ENDPOINT": server.url}
    done = run_cli(server.data_dir, "video", "search", str(CLIP), "--collection", "cast", **env)
    out = done.stdout
    assert "lin-manuel-miranda (95" in out and "no match" in out
    row = next(line for line in out.splitlines() if "lin-manuel-miranda" in line)
    start, end = re.search(r"(\d+\.\d)-(\d+\.\d) s", row).groups()
    assert 2.4 <= float(start) <= 3.3 and 6.7 <= float(end) <= 7.6
    assert "100%" in done.stderr  # the progress bar ran to the end
    detected = run_cli(server.data_dir, "video", "detect", str(CLIP), "--json", **env)
    assert json.loads(detected.stdout)["JobStatus"] == "SUCCEEDED"
    refused = run_cli(server.data_dir, "video", "detect", str(server.log), check=False, **env)
    assert refused.returncode == 3 and "InvalidParameterException" in refused.stderr


def test_face_detection_never_infers_attributes(media):
    _keys, client, _faces, video_id = media
    with pytest.raises(ClientError) as excinfo:
        client.start_face_detection(Video=stored(video_id), FaceAttributes="ALL")
    code, message = _error(excinfo)
    assert code == "AccessDeniedException" and "NO-ATTRIBUTES" in message
