"""Accountability with a real server: the log survives SIGKILL and matches the stored state,
retention purges exactly the expired faces, erasure leaves no trace, and the log is readable
by auditors and verifiable by outsiders."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import DATA
from tests.conftest import london_front as front
from tests.server import BASIS, Server

pytestmark = pytest.mark.models

SUBJECTS = sorted(p.stem.split("_")[0] for p in (DATA / "london" / "neutral_front").glob("*.jpg"))
CASE = {"X-Facegate-Case": "CASE-77"}


def verify(server: Server) -> dict:
    done = server.cli("audit", "verify", "--json", check=False)
    assert done.returncode in (0, 4), done.stderr
    return json.loads(done.stdout)


# --- SIGKILL in a burst of mixed requests -------------------------------------------------------


def test_sigkill_in_a_mixed_burst_leaves_a_chain_that_matches_the_state(tmp_path, backend, request):
    if backend:  # a database of its own: the module's server uses the backend's
        backend = {"FACEGATE_DATABASE_URL": request.getfixturevalue("postgres_databases")()}
    server = Server(tmp_path, FACEGATE_AUDIT_CHECKPOINT_EVERY="7", **backend)
    try:
        keys = server.governed_keys("burst-org")
        client = server.client(keys, headers=BASIS)
        client.create_collection(CollectionId="burst")
        server.organization("police", "law_enforcement")
        police = server.client(
            server.key("police", server.use_case("police", "criminal_investigation")),
            headers=CASE,
        )
        stop = threading.Event()
        indexed: list[str] = []
        lock = threading.Lock()

        def work(i: int) -> None:
            subject = SUBJECTS[i % len(SUBJECTS)]
            try:
                if i % 5 == 0:
                    police.search_faces_by_image(
                        CollectionId="burst", Image={"Bytes": front(subject)}
                    )
                elif i % 5 == 1:
                    client.search_faces_by_image(
                        CollectionId="burst", Image={"Bytes": front(subject, True)}
                    )
                elif i % 5 == 2 and indexed:
                    with lock:
                        victim = indexed.pop(0)
                    client.delete_faces(CollectionId="burst", FaceIds=[victim])
                else:
                    answer = client.index_faces(
                        CollectionId="burst",
                        Image={"Bytes": front(subject)},
                        ExternalImageId=f"s{i}",
                    )
                    with lock:
                        indexed.extend(r["Face"]["FaceId"] for r in answer["FaceRecords"])
            except (BotoCoreError, ClientError):
                pass  # denials, and the requests the kill cuts off

        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(work, i) for i in range(60)]
            while sum(f.done() for f in futures) < 25:
                threading.Event().wait(0.05)
            server.kill()
            stop.set()
            for future in futures:
                future.result(timeout=300)
        server.start()
        report = verify(server)
        assert report["ok"], report
        assert report["records"] >= 25 and report["checkpoints_verified"] >= 1
        stored = {
            row[0]
            for row in server.query(
                "SELECT f.face_id FROM faces f JOIN collections c ON c.id = f.collection_id "
                "WHERE c.name = 'burst'",
            )
        }
        records = server.query(
            "SELECT operation, decision, face_ids FROM audit_records "
            "WHERE organization = 'burst-org' ORDER BY seq",
        )
        added, removed = set(), set()
        for operation, decision, face_ids in records:
            if decision != "allow":
                continue
            if operation == "IndexFaces":
                added |= set(json.loads(face_ids))
            elif operation == "DeleteFaces":
                removed |= set(json.loads(face_ids))
        # every stored face was recorded as indexed, every recorded one is stored or recorded
        # as deleted: no change without its record, no record of a change that did not happen
        assert stored == added - removed
        assert added, "the burst indexed nothing before the kill"
        denied = server.query(
            "SELECT count(*) FROM audit_records WHERE organization = 'police' "
            "AND decision = 'deny' AND policies LIKE '%MORATORIUM%'",
        )[0][0]
        assert denied >= 1
    finally:
        server.stop()


# --- retention, erasure, access -----------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory, backend):
    # HNSW from two faces on, so erasure must also take vectors out of a graph.
    srv = Server(
        tmp_path_factory.mktemp("accountability"), FACEGATE_INDEX_APPROXIMATE_FROM="2", **backend
    )
    yield srv
    srv.stop()


def test_retention_purges_exactly_the_expired_faces(server, backend):
    server.organization("archive", "nonprofit")
    short = server.use_case("archive", "media_archive", retention_years=1)
    long = server.use_case("archive", "media_archive", retention_years=5)
    brief = server.client(server.key("archive", short), headers=BASIS)
    lasting = server.client(server.key("archive", long), headers=BASIS)
    brief.create_collection(CollectionId="photos")
    soon = [
        brief.index_faces(CollectionId="photos", Image={"Bytes": front(s)}, ExternalImageId=s)[
            "FaceRecords"
        ][0]["Face"]["FaceId"]
        for s in SUBJECTS[:3]
    ]
    later = [
        lasting.index_faces(CollectionId="photos", Image={"Bytes": front(s)}, ExternalImageId=s)[
            "FaceRecords"
        ][0]["Face"]["FaceId"]
        for s in SUBJECTS[3:6]
    ]
    deadlines = dict(
        server.query(
            "SELECT face_id, delete_by FROM faces WHERE face_id IN "
            f"({', '.join(repr(f) for f in soon + later)})",
        )
    )
    now = datetime.now(UTC)
    for face in soon:
        assert abs(_aware(deadlines[face]) - (now + timedelta(days=365.25))) < timedelta(hours=1)
    # two years on, only the one-year faces are due
    at = (now + timedelta(days=730)).isoformat()
    purged = json.loads(server.cli("retention", "run", "--at", at, "--json").stdout)
    assert purged["faces_deleted"] == 3 and purged["receipts"] == 1
    left = {f["FaceId"] for f in brief.list_faces(CollectionId="photos")["Faces"]}
    assert left == set(later)
    receipt = server.query(
        "SELECT body, sha256 FROM deletion_receipts WHERE kind = 'retention' AND id = :id",
        id=purged["receipt_ids"][0],
    )[0]
    assert sorted(json.loads(receipt[0])["face_ids"]) == sorted(soon)
    recorded = server.query(
        "SELECT detail, face_ids FROM audit_records WHERE operation = 'System.RetentionPurge'",
    )
    assert any(json.loads(d)["receipt_sha256"] == receipt[1] for d, _ in recorded)
    found = brief.search_faces_by_image(
        CollectionId="photos", Image={"Bytes": front(SUBJECTS[0])}, FaceMatchThreshold=90
    )["FaceMatches"]
    assert not {m["Face"]["FaceId"] for m in found} & set(soon)
    assert verify(server)["ok"]


def _aware(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_erasure_leaves_no_trace(server, backend):
    org = "city-hall"
    server.organization(org, "government")
    use_case = server.use_case(org, "access_control")
    server.member(org, "rita", "reviewer")
    client = server.client(server.key(org, use_case), headers={**BASIS, **CASE})
    reviewer = server.key(org, use_case, "rita")

    def candidates(collection: str) -> set[str]:
        """What a search with the subject's other photo puts before the reviewer."""
        answer = client.search_faces_by_image(
            CollectionId=collection, Image={"Bytes": front(subject, True)}
        )
        review = answer["ResponseMetadata"]["HTTPHeaders"]["x-facegate-review-id"]
        shown = httpx.get(
            f"{server.url}/v1/reviews/{review}",
            headers={"X-Api-Key": f"{reviewer[0]}:{reviewer[1]}"},
            timeout=60,
        ).json()
        return {c["FaceId"] for c in shown["Candidates"]}

    subject, other = SUBJECTS[10], SUBJECTS[11]
    for collection in ("lobby", "garage"):
        client.create_collection(CollectionId=collection)
        client.index_faces(
            CollectionId=collection, Image={"Bytes": front(subject)}, ExternalImageId=subject
        )
        client.index_faces(
            CollectionId=collection, Image={"Bytes": front(other)}, ExternalImageId=other
        )
    smiling = client.index_faces(
        CollectionId="lobby", Image={"Bytes": front(subject, True)}, ExternalImageId="badge-9"
    )["FaceRecords"][0]["Face"]["FaceId"]
    client.create_user(CollectionId="lobby", UserId=subject)
    client.associate_faces(CollectionId="lobby", UserId=subject, FaceIds=[smiling])
    doomed = server.query(
        "SELECT f.row_id, f.face_id, f.vector FROM faces f JOIN collections c "
        "ON c.id = f.collection_id JOIN organizations o ON o.id = c.organization_id "
        "WHERE o.name = :org AND (f.external_image_id = :s OR f.face_id = :f)",
        org=org,
        s=subject,
        f=smiling,
    )
    assert len(doomed) == 3
    crops_before = server.query(
        "SELECT count(*) FROM face_crops WHERE face_row_id IN "
        f"({', '.join(str(r[0]) for r in doomed)})",
    )[0][0]
    assert crops_before == 3  # government identification is reviewed: crops are kept
    assert smiling in candidates("lobby")  # before: the search does find the subject
    erased = server.ok("POST", "/erasures", {"organization": org, "subject": subject})
    assert erased["faces_deleted"] == 3 and erased["users_deleted"] == 1
    assert sorted(erased["face_ids"]) == sorted(r[1] for r in doomed)
    # nothing left in SQL
    ids = ", ".join(str(r[0]) for r in doomed)
    assert server.query(f"SELECT count(*) FROM faces WHERE row_id IN ({ids})")[0][0] == 0
    assert server.query(f"SELECT count(*) FROM face_crops WHERE face_row_id IN ({ids})")[0][0] == 0
    assert server.query("SELECT count(*) FROM users WHERE name = :s", s=subject)[0][0] == 0
    # nor in any index file: the vectors' bytes are nowhere
    files = list((Path(server.data_dir) / "index").glob("*.faiss"))
    assert files
    blobs = [p.read_bytes() for p in files]
    for _, _, vector in doomed:
        raw = bytes(vector)
        assert len(raw) == 512
        assert not any(raw in blob for blob in blobs)
        assert np.frombuffer(raw, dtype="<f4").shape == (128,)
    # a search with the subject's photo finds nothing of them; the other person is still there
    assert candidates("lobby") == set() and candidates("garage") == set()
    remaining = {
        row[0]
        for row in server.query(
            "SELECT f.external_image_id FROM faces f JOIN collections c ON c.id = f.collection_id"
            " JOIN organizations o ON o.id = c.organization_id WHERE o.name = :org",
            org=org,
        )
    }
    assert remaining == {other}
    # the receipt's hash is in the log
    details = [
        json.loads(d)
        for (d,) in server.query("SELECT detail FROM audit_records WHERE operation = 'Admin.Erase'")
    ]
    assert any(d.get("receipt_sha256") == erased["sha256"] for d in details)
    assert verify(server)["ok"]


def test_auditors_read_their_organization_and_outsiders_verify_exports(server, tmp_path):
    org = "newsroom"
    server.organization(org, "commercial")
    use_case = server.use_case(org, "media_archive")
    server.member(org, "ida", "auditor")
    server.member(org, "ned", "analyst")
    auditor = server.key(org, use_case, "ida")
    analyst = server.key(org, use_case, "ned")
    server.client(analyst).detect_faces(Image={"Bytes": front(SUBJECTS[0])})

    def get(key, path, **params):
        return httpx.get(
            f"{server.url}/v1/audit{path}",
            params=params,
            headers={"X-Api-Key": f"{key[0]}:{key[1]}"},
            timeout=60,
        )

    page = get(auditor, "/records").json()["Records"]
    assert page and {r["Organization"] for r in page} == {org}
    assert "DetectFaces" in {r["Operation"] for r in page}
    refused = get(analyst, "/records")
    assert refused.status_code == 403 and refused.json()["error"]["rules"] == ["AUDIT-ACCESS"]
    forged = httpx.get(
        f"{server.url}/v1/audit/records", headers={"X-Api-Key": f"{auditor[0]}:not-the-secret"}
    )
    assert forged.status_code == 401
    everything = get(server.operator_keys(), "/records", limit=1000).json()["Records"]
    assert len({r["Organization"] for r in everything}) > 1
    # a refused authentication is on the record too, with the key id it named
    assert any(
        r["AccessKeyId"] == auditor[0] and r["ErrorType"] == "InvalidSignatureException"
        for r in get(server.operator_keys(), "/records", decision="deny", limit=1000).json()[
            "Records"
        ]
    )
    assert get(auditor, "/verify").json()["ok"]
    # an outsider: the public key from the public endpoint, an export from the operator
    key = httpx.get(f"{server.url}/v1/audit/public-key").json()
    (tmp_path / "key.pem").write_text(key["PublicKey"])
    exported = get(server.operator_keys(), "/export")
    assert exported.status_code == 200
    # streamed as it is read from the database, never built whole in the server's memory
    assert exported.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in exported.headers
    (tmp_path / "log.jsonl").write_bytes(exported.content)
    done = server.cli(
        "audit",
        "verify",
        "--export",
        str(tmp_path / "log.jsonl"),
        "--public-key",
        str(tmp_path / "key.pem"),
        "--json",
    )
    checked = json.loads(done.stdout)
    assert (
        checked["ok"]
        and checked["records"] == len(exported.content.splitlines()) - 1 - (checked["checkpoints"])
    )
    # nothing changes or deletes a record through any interface
    for method in ("DELETE", "PUT", "PATCH", "POST"):
        response = httpx.request(
            method,
            f"{server.url}/v1/audit/records",
            headers={"X-Api-Key": ":".join(server.operator_keys())},
        )
        assert response.status_code == 405
