"""Transparency and accountability reports over a scripted month of real traffic.

One real server; three organizations (commercial, nonprofit with human review, law
enforcement under the moratorium) enroll, search, get denied, review, delete, erase and are
purged at their retention deadline; the law-enforcement agency also asks a community
organization's camera owners for footage, which they approve, decline, revoke and share.
The transparency report for the period must have exactly the expected counts, withhold the
small ones (and the ones that would give them away), and contain no organization, member,
key, face, case, review, request, camera or subject identifier. The public key it publishes
must verify an export of the same period.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

import facegate
from tests.conftest import DATA
from tests.conftest import london_front as front
from tests.server import BASIS, Server

pytestmark = pytest.mark.models

SUBJECTS = sorted(p.stem.split("_")[0] for p in (DATA / "london" / "neutral_front").glob("*.jpg"))
ACME = "acme-photo-archive-5521"  # commercial, photo organization
TRUST = "lost-children-trust-8830"  # nonprofit, missing persons, human review
METRO = "metro-police-4417"  # law enforcement, criminal investigation: the moratorium
ANALYST = "ingrid-quist-analyst"
REVIEWER = "rupert-vale-reviewer"
CASE = {"X-Facegate-Case": "CASE-RPT-2026-55123"}
ERASED = "acme-subject-erasure-7731"  # the ExternalImageId whose faces are erased
OAK = "oak-lane-neighbours-2291"  # community: camera owners sharing footage with metro
OWNERS = ("olive-hart-owner", "oscar-lind-owner")
CAMERAS = {  # name: (owner, latitude, longitude)
    "olive-porch-cam-5120": (OWNERS[0], 51.50100, -0.14200),
    "olive-drive-cam-5121": (OWNERS[0], 51.50110, -0.14230),
    "oscar-gate-cam-5122": (OWNERS[1], 51.50130, -0.14180),
}
INCIDENT = "METRO-INC-2026-88412"
CLIP = DATA / "face_recognition" / "short_hamilton_clip.mp4"
ACME_SUBJECTS = SUBJECTS[6:16]  # 10 faces; the last is the erased subject
TRUST_SUBJECTS = (SUBJECTS[3], SUBJECTS[5])  # 2 faces, found again at threshold 99


@dataclass
class Traffic:
    start: datetime
    end: datetime
    # every identifier the traffic used: none may appear in a report
    secrets: set[str] = field(default_factory=set)
    policy_version: str = ""
    trust_use_case: int = 0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("reports"))
    yield srv
    srv.stop()


def _request_id(answer: dict) -> str:
    return answer["ResponseMetadata"]["RequestId"]


def _api(server: Server, key: tuple[str, str]) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.url}/v1", headers={"X-Api-Key": ":".join(key)}, timeout=120
    )


def _ok(response: httpx.Response) -> dict:
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture(scope="module")
def traffic(server) -> Traffic:
    t = Traffic(start=datetime.now(UTC) - timedelta(seconds=1), end=datetime.now(UTC))
    t.secrets |= {ACME, TRUST, METRO, ANALYST, REVIEWER, CASE["X-Facegate-Case"], ERASED}
    t.secrets |= set(server.operator_keys())
    # Administration: 3 organizations, 3 use cases registered and approved, 2 members, 4 keys.
    server.organization(ACME, "commercial")
    server.organization(TRUST, "nonprofit")
    server.organization(METRO, "law_enforcement")
    acme_uc = server.use_case(ACME, description="acme-desc-6612: tag family photo albums")
    t.trust_use_case = server.use_case(
        TRUST,
        "missing_persons",
        ("identify", "enroll", "manage"),
        human_review=True,
        description="trust-desc-9043: match photos of reported missing children",
    )
    metro_uc = server.use_case(METRO, "criminal_investigation", ("verify", "identify", "enroll"))
    server.member(TRUST, ANALYST, "analyst")
    server.member(TRUST, REVIEWER, "reviewer")
    keys = {
        "acme": server.key(ACME, acme_uc),
        "analyst": server.key(TRUST, t.trust_use_case, ANALYST),
        "reviewer": server.key(TRUST, t.trust_use_case, REVIEWER),
        "metro": server.key(METRO, metro_uc),
    }
    t.secrets |= {k for pair in keys.values() for k in pair}

    # acme: a collection, 10 faces, 6 searches, one DeleteFaces of 5 faces.
    acme = server.client(keys["acme"], headers=BASIS)
    t.secrets.add(_request_id(acme.create_collection(CollectionId="acme-gallery-3361")))
    faces = {}
    for subject in ACME_SUBJECTS:
        external = ERASED if subject == ACME_SUBJECTS[-1] else f"acme-person-{subject}-40"
        answer = acme.index_faces(
            CollectionId="acme-gallery-3361",
            Image={"Bytes": front(subject)},
            ExternalImageId=external,
        )
        assert len(answer["FaceRecords"]) == 1
        faces[subject] = answer["FaceRecords"][0]["Face"]["FaceId"]
        t.secrets |= {external, _request_id(answer)}
        t.policy_version = answer["ResponseMetadata"]["HTTPHeaders"]["x-facegate-policy-version"]
    for subject in ACME_SUBJECTS[:6]:
        answer = acme.search_faces_by_image(
            CollectionId="acme-gallery-3361", Image={"Bytes": front(subject, smiling=True)}
        )
        assert answer["FaceMatches"][0]["Face"]["FaceId"] == faces[subject]
        t.secrets.add(_request_id(answer))
    deleted = acme.delete_faces(
        CollectionId="acme-gallery-3361", FaceIds=[faces[s] for s in ACME_SUBJECTS[4:9]]
    )
    assert len(deleted["DeletedFaces"]) == 5
    t.secrets.add(_request_id(deleted))

    # trust: a collection, 2 faces, 3 searches held for review: confirmed, rejected, left open.
    analyst = server.client(keys["analyst"], headers=BASIS)
    t.secrets.add(_request_id(analyst.create_collection(CollectionId="trust-gallery-5190")))
    for subject in TRUST_SUBJECTS:
        answer = analyst.index_faces(
            CollectionId="trust-gallery-5190",
            Image={"Bytes": front(subject)},
            ExternalImageId=f"trust-child-{subject}-77",
        )
        faces[subject] = answer["FaceRecords"][0]["Face"]["FaceId"]
        t.secrets |= {f"trust-child-{subject}-77", _request_id(answer)}
    reviews = []
    for subject in (*TRUST_SUBJECTS, TRUST_SUBJECTS[0]):
        answer = analyst.search_faces_by_image(
            CollectionId="trust-gallery-5190", Image={"Bytes": front(subject, smiling=True)}
        )
        assert answer["FaceMatches"] == []  # held for the reviewer
        reviews.append(answer["ResponseMetadata"]["HTTPHeaders"]["x-facegate-review-id"])
        t.secrets.add(_request_id(answer))
    t.secrets |= set(reviews)
    with httpx.Client(
        base_url=f"{server.url}/v1",
        headers={"X-Api-Key": ":".join(keys["reviewer"])},
        timeout=60,
    ) as reviewer:
        confirmed = reviewer.post(
            f"/reviews/{reviews[0]}/decision",
            json={
                "Decision": "CONFIRM",
                "CandidateIds": [faces[TRUST_SUBJECTS[0]]],
                "Note": "same ears and hairline",
            },
        )
        assert confirmed.status_code == 200, confirmed.text
        rejected = reviewer.post(
            f"/reviews/{reviews[1]}/decision",
            json={"Decision": "REJECT", "Note": "not the child"},
        )
        assert rejected.status_code == 200, rejected.text
        t.secrets |= {confirmed.headers["x-request-id"], rejected.headers["x-request-id"]}

    # metro: two identification searches, denied by the moratorium.
    metro = server.client(keys["metro"], headers=CASE)
    for subject in TRUST_SUBJECTS:
        with pytest.raises(ClientError) as denied:
            metro.search_faces_by_image(
                CollectionId="metro-gallery-8812", Image={"Bytes": front(subject)}
            )
        meta = denied.value.response["ResponseMetadata"]
        assert meta["HTTPHeaders"]["x-facegate-denied-by"] == "MORATORIUM"
        t.secrets.add(meta["RequestId"])

    # Footage (FOOTAGE-CONSENT): oak-lane's two owners register 3 cameras; metro asks 5 times
    # (once by area: 3 cameras; 4 times for one camera: 7 cameras asked); Olive approves all of
    # hers (5 decisions, 6 cameras), Oscar declines (1), Olive revokes one approval (1); Olive
    # shares 5 videos; 3 shares are refused (revoked, outside the window, declined).
    t.secrets |= {OAK, *OWNERS, *CAMERAS, INCIDENT}
    server.organization(OAK, "community")
    oak_uc = server.use_case(OAK, "footage_sharing", ("detect",))
    owners = []
    for name in OWNERS:
        server.member(OAK, name, "owner")
        owners.append(server.key(OAK, oak_uc, name))
    t.secrets |= {k for pair in owners for k in pair}
    olive, oscar = (_api(server, key) for key in owners)
    police = _api(server, keys["metro"])
    cams = {}
    for name, (owner, lat, lon) in CAMERAS.items():
        who = olive if owner == OWNERS[0] else oscar
        made = _ok(who.post("/cameras", json={"Name": name, "Latitude": lat, "Longitude": lon}))
        cams[name] = made["CameraId"]
    porch, drive, gate = cams.values()
    window = (datetime.now(UTC) - timedelta(hours=3), datetime.now(UTC) - timedelta(hours=2))
    asked = {"IncidentReference": INCIDENT, "Reason": "footage-reason-6634: a stolen bicycle"}
    asked |= {"WindowStart": window[0].isoformat(), "WindowEnd": window[1].isoformat()}
    area = {"Latitude": 51.5011, "Longitude": -0.1420, "RadiusMeters": 200}
    requests = [_ok(police.post("/footage-requests", json={**asked, "Area": area}))]
    requests += [
        _ok(police.post("/footage-requests", json={**asked, "CameraIds": [porch]}))
        for _ in range(4)
    ]
    ids = [r["FootageRequestId"] for r in requests]
    assert [r["Cameras"]["Asked"] for r in requests] == [3, 1, 1, 1, 1]
    for request in ids:
        _ok(olive.post(f"/footage-requests/{request}/decision", json={"Decision": "APPROVE"}))
    _ok(oscar.post(f"/footage-requests/{ids[0]}/decision", json={"Decision": "DECLINE"}))
    revoke = {"Decision": "REVOKE", "CameraIds": [drive]}
    _ok(olive.post(f"/footage-requests/{ids[0]}/decision", json=revoke))
    inside = window[0] + timedelta(minutes=5)

    def share(who: httpx.Client, request: int, camera: int, start: datetime) -> httpx.Response:
        query = {"camera": camera, "recorded_from": start.isoformat()}
        return who.post(
            f"/footage-requests/{request}/footage", params=query, content=CLIP.read_bytes()
        )

    for request in ids:
        t.secrets.add(_ok(share(olive, request, porch, inside))["VideoId"])
    late = window[1] - timedelta(seconds=2)
    for who, request, camera, start in (
        (olive, ids[0], drive, inside),
        (olive, ids[1], porch, late),
        (oscar, ids[0], gate, inside),
    ):
        refused = share(who, request, camera, start)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["rules"] == ["FOOTAGE-CONSENT"]
    for client in (olive, oscar, police):
        client.close()

    # Three requests refused before the policy decision: an unknown key, a bad key on a
    # review's URL, an operation nobody serves. The names they carry must not be published.
    stranger = server.client(("AKIAREPORTSTRANGER01", "not-a-secret"))
    with pytest.raises(ClientError) as refused:
        stranger.detect_faces(Image={"Bytes": front(SUBJECTS[0])})
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
    t.secrets |= {"AKIAREPORTSTRANGER01", refused.value.response["ResponseMetadata"]["RequestId"]}
    peek = httpx.get(
        f"{server.url}/v1/reviews/{reviews[2]}", headers={"X-Api-Key": "FGBADKEY93817:x"}
    )
    assert peek.status_code in (401, 403), peek.text
    probe = httpx.post(
        server.url,
        headers={
            "X-Amz-Target": "RekognitionService.Probe-secret-9931",
            "Content-Type": "application/x-amz-json-1.1",
        },
        content=b"{}",
    )
    assert probe.status_code >= 400
    t.secrets |= {"FGBADKEY93817", "Probe-secret-9931", peek.headers["x-request-id"]}

    # An erasure (1 face), then everything left reaches its deadline: 4 + 2 faces purged.
    erased = json.loads(server.cli("erase", "--org", ACME, "--subject", ERASED, "--json").stdout)
    assert erased["faces_deleted"] == 1
    purged = json.loads(server.cli("retention", "run", "--at", "2100-01-01", "--json").stdout)
    assert (purged["receipts"], purged["faces_deleted"]) == (2, 6)
    t.secrets |= set(faces.values()) | {erased["receipt_id"], *purged["receipt_ids"]}
    server.cli("audit", "checkpoint")
    t.end = datetime.now(UTC) + timedelta(seconds=1)
    return t


@pytest.fixture(scope="module")
def report(server, traffic, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("transparency")
    done = server.cli(
        "report",
        "transparency",
        "--from",
        traffic.start.isoformat(),
        "--to",
        traffic.end.isoformat(),
        "--output-dir",
        str(out),
        "--json",
    )
    summary = json.loads(done.stdout)
    document = json.loads((out / "transparency.json").read_text())
    return {"dir": out, "summary": summary, "json": document}


def _rows(table: dict, label: str) -> dict[str, dict]:
    return {row[label]: row for row in table["rows"]}


def _csv(path: Path) -> dict[str, list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return {row[0]: row[1:] for row in rows[1:]} | {"__header__": rows[0]}


COLUMNS = ("allowed", "denied", "refused", "error", "total")
SMALL = {"value": None, "suppressed": True, "shown": "<5"}
WITHHELD = {"value": None, "suppressed": True, "shown": "x"}


def _n(value: int) -> dict:
    return {"value": value}


def test_requests_by_sector_purpose_and_operation(report):
    requests = report["json"]["requests"]
    sectors = _rows(requests["requests_by_sector"], "sector")
    # 18 allowed acme requests: a collection, 10 enrollments, 6 searches, 1 DeleteFaces
    assert {c: sectors["commercial"][c] for c in COLUMNS} == {
        "allowed": _n(18),
        "denied": _n(0),
        "refused": _n(0),
        "error": _n(0),
        "total": _n(18),
    }
    # a collection, 2 enrollments, 3 searches and 2 review decisions
    assert sectors["nonprofit"]["allowed"] == _n(8) and sectors["nonprofit"]["total"] == _n(8)
    # law enforcement: 5 footage requests allowed, 2 moratorium denials (small). The total 7
    # would give the 2 away from the 5, so the 5 is withheld; and the 3 refusals of unknown
    # callers (small) could be recomputed from the column of totals (54 - 8 - 18 - 18 - 7), so
    # the 7 is withheld as well
    assert sectors["law_enforcement"]["denied"] == SMALL
    assert sectors["law_enforcement"]["allowed"] == WITHHELD
    assert sectors["law_enforcement"]["total"] == WITHHELD
    assert sectors["(not authenticated)"]["refused"] == SMALL
    assert sectors["government"]["total"] == _n(0)
    # community: 3 cameras, 7 decisions, 5 shares allowed and 3 refused (small, so the 15
    # allowed is withheld and the total 18 shown)
    assert sectors["community"]["denied"] == SMALL
    assert sectors["community"]["allowed"] == WITHHELD
    assert sectors["community"]["total"] == _n(18)
    # 2 + 3 = 5 denied; the 3 refusals would follow from 54 - 46 - 5, so the 5 is withheld
    assert {c: sectors["(all)"][c] for c in COLUMNS} == {
        "allowed": _n(46),
        "denied": WITHHELD,
        "refused": SMALL,
        "error": _n(0),
        "total": _n(54),
    }
    assert report["summary"]["requests"] == "54" and report["summary"]["denied"] == "x"

    purposes = _rows(requests["requests_by_purpose"], "purpose")
    assert purposes["photo_organization"]["total"] == _n(18)
    assert purposes["missing_persons"]["total"] == _n(8)
    assert purposes["criminal_investigation"]["denied"] == SMALL
    assert purposes["(no use case)"]["refused"] == SMALL
    assert purposes["trafficking_victims"]["total"] == _n(0)
    assert purposes["footage_sharing"]["total"] == _n(18)

    classes = _rows(requests["requests_by_operation_class"], "class")
    assert classes["enroll"]["allowed"] == _n(12) and classes["enroll"]["total"] == _n(12)
    # 9 allowed and 2 denied searches: the total 11 would give the 2 away from the 9, so the
    # 9 is withheld too
    assert classes["identify"]["total"] == _n(11)
    assert classes["identify"]["denied"] == SMALL and classes["identify"]["allowed"] == WITHHELD
    assert classes["manage"]["allowed"] == SMALL  # 2 collections and 1 DeleteFaces
    assert classes["review"]["allowed"] == SMALL  # 2 decisions
    assert classes["detect"]["refused"] == SMALL  # the unknown key's DetectFaces
    assert classes["(unrecognized)"]["refused"] == SMALL  # a URL path, a made-up operation
    assert classes["verify"]["total"] == _n(0)
    # 20 allowed and 3 refused shares: the 20 is withheld, the 23 shown
    assert classes["footage"]["total"] == _n(23)
    assert classes["footage"]["denied"] == SMALL and classes["footage"]["allowed"] == WITHHELD

    operations = _rows(requests["requests_by_operation"], "operation")
    assert set(operations) == {
        "SearchFacesByImage",
        "DetectFaces",
        "IndexFaces",
        "CreateCollection",
        "DeleteFaces",
        "DecideReview",
        "RegisterCamera",
        "RequestFootage",
        "DecideFootageRequest",
        "ShareFootage",
        "(unrecognized operation)",
        "(all)",
    }
    assert operations["IndexFaces"]["class"] == "enroll"
    assert operations["IndexFaces"]["total"] == _n(12)
    assert operations["SearchFacesByImage"]["total"] == _n(11)
    assert operations["SearchFacesByImage"]["allowed"] == WITHHELD
    assert operations["DeleteFaces"]["allowed"] == SMALL
    assert operations["DecideFootageRequest"]["class"] == "footage"
    assert operations["DecideFootageRequest"]["allowed"] == _n(7)
    assert operations["ShareFootage"]["total"] == _n(8)
    assert operations["ShareFootage"]["denied"] == SMALL
    assert operations["ShareFootage"]["allowed"] == WITHHELD
    # the class's total 23 less 7 and 8 would give away the 3 camera registrations (small)
    # beside the 5 requests, so the 5 is withheld, and so is the footage table's count of them
    assert operations["RequestFootage"]["allowed"] == WITHHELD
    assert operations["RegisterCamera"]["allowed"] == SMALL


def test_denials_reviews_gallery_and_actions(report):
    document = report["json"]
    rules = _rows(document["denials_by_rule"], "rule")
    assert rules["MORATORIUM"]["denials"] == SMALL
    assert rules["LIMITED-ACCESS"]["denials"] == _n(0)
    assert rules["CASE-REFERENCE"]["denials"] == _n(0)
    assert rules["FOOTAGE-CONSENT"]["denials"] == SMALL  # revoked, outside the window, declined

    footage = document["footage"]["measures"]
    assert footage == {
        "requests": WITHHELD,  # 5, withheld with the operation's own count
        "asked": _n(7),
        "approve": _n(6),
        "decline": SMALL,
        "revoke": SMALL,
        "shared": WITHHELD,  # 5, withheld with ShareFootage's allowed count (beside 3 refused)
        "refused": SMALL,
    }

    statuses = _rows(document["reviews"]["by_status"], "status")
    assert {s: statuses[s]["reviews"] for s in ("open", "confirmed", "rejected", "expired")} == {
        "open": SMALL,
        "confirmed": SMALL,
        "rejected": SMALL,
        "expired": _n(0),
    }
    assert statuses["(all)"]["reviews"] == SMALL
    timing = document["reviews"]["time_to_decision"]
    assert timing["suppressed"] is True and timing["median_seconds"] is None  # 2 decided

    measures = document["gallery"]["measures"]
    assert measures["faces_enrolled"] == _n(12)
    assert measures["delete_requests"] == SMALL
    assert measures["retention_purges"] == SMALL  # 2 receipts, one per organization
    assert measures["faces_purged"] == _n(6)
    assert measures["erasures"] == SMALL and measures["faces_erased"] == SMALL
    deleted = measures["faces_deleted_on_request"]
    # The DeleteFaces record does not carry its count today (see the report's note); when it
    # does, the 5 faces must be counted.
    assert deleted == _n(5) or (deleted["value"] is None and deleted["unknown"] is True)

    actions = _rows(document["actions"], "action")
    assert actions["Admin.ApproveUseCase"]["allowed"] == SMALL
    assert actions["Admin.IssueKey"]["allowed"] == _n(6)
    assert actions["Erase"]["total"] == SMALL
    assert actions["System.RetentionPurge"]["total"] == SMALL
    # 4 organizations + 4 registrations + 4 approvals + 4 members + 6 keys + 1 erasure + 2 purges
    assert actions["(all)"]["total"] == _n(25)


def test_policy_versions_chain_and_demographic_audit(server, traffic, report, tmp_path):
    document = report["json"]
    today = datetime.now(UTC).date().isoformat()
    assert [v["version"] for v in document["policy_versions"]] == [traffic.policy_version]
    assert document["policy_versions"][0]["first_seen"] <= today
    chain = document["audit_chain"]
    assert chain["records_in_period"] == 54 + 25  # requests and actions
    assert chain["last_seq_in_period"] - chain["first_seq_in_period"] + 1 == 79
    assert chain["head_seq"] == chain["last_seq_in_period"]
    assert chain["latest_checkpoint"]["seq"] == chain["head_seq"]  # signed before the report
    assert chain["checkpoints_in_period"] == 1
    public = json.loads(server.cli("audit", "public-key", "--json").stdout)
    assert chain["public_key_pem"] == public["public_key"]
    assert chain["public_key_id"] == public["key_id"] == report["summary"]["public_key_id"]
    assert document["demographic_audit"]["status"] == "none on record"
    assert "Demographic audit: none on record" in (report["dir"] / "transparency.html").read_text()

    # What the report tells a reader to do works: export the period, verify it with the key.
    pem = tmp_path / "audit-key.pem"
    pem.write_text(chain["public_key_pem"])
    export = tmp_path / "audit.jsonl"
    exported = server.cli(
        "audit",
        "export",
        "--since",
        traffic.start.isoformat(),
        "--until",
        traffic.end.isoformat(),
        "--output",
        str(export),
        "--json",
    )
    assert json.loads(exported.stdout)["records"] == chain["records_in_period"]
    verified = json.loads(
        server.cli(
            "audit", "verify", "--export", str(export), "--public-key", str(pem), "--json"
        ).stdout
    )
    assert verified["ok"] is True and verified["checkpoints_verified"] == 1


def test_csv_and_html_show_the_same_suppressed_cells(report):
    out = report["dir"]
    sectors = _csv(out / "requests_by_sector.csv")
    assert sectors["__header__"] == ["sector", *COLUMNS]
    assert sectors["commercial"] == ["18", "0", "0", "0", "18"]
    assert sectors["law_enforcement"] == ["x", "<5", "0", "0", "x"]
    assert sectors["(all)"] == ["46", "x", "<5", "0", "54"]
    operations = _csv(out / "requests_by_operation.csv")
    assert operations["SearchFacesByImage"] == ["identify", "x", "<5", "0", "0", "11"]
    assert _csv(out / "denials_by_rule.csv")["MORATORIUM"] == ["<5"]
    assert _csv(out / "gallery_changes.csv")["faces purged at their retention deadline"] == ["6"]
    footage = _csv(out / "footage_sharing.csv")
    assert footage["cameras asked"] == ["7"] and footage["videos shared with agencies"] == ["x"]
    for name in report["json"]["files"]:
        assert (out / name).is_file(), name
    assert len([n for n in report["json"]["files"] if n.endswith(".csv")]) == 11

    html = (out / "transparency.html").read_text()
    assert '<th scope="row">law_enforcement</th><td>x</td><td>&lt;5</td>' in html
    assert '<section id="footage">' in html
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]+)"', html)
    assert len(images) == 5
    assert all(alt.startswith("Bar chart") for _, alt in images)
    assert "law_enforcement: x;" in images[0][1]  # the chart says no more than the table
    assert "http://" not in html and "https://" not in html  # no external assets
    assert "-----BEGIN PUBLIC KEY-----" in html


def test_no_personal_data_in_any_file(traffic, report):
    files = sorted(report["dir"].iterdir())
    assert len(files) == 13  # HTML, JSON and 11 CSV files
    leaks = {
        (path.name, secret)
        for path in files
        for secret in traffic.secrets
        if secret in path.read_text(encoding="utf-8")
    }
    assert leaks == set()
    assert len(traffic.secrets) > 40  # names, keys, faces, reviews, requests, receipts


@pytest.fixture(scope="module")
def accountability(server, traffic, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("accountability")
    done = server.cli(
        "report",
        "accountability",
        "--usecase",
        str(traffic.trust_use_case),
        "--output-dir",
        str(out),
        "--json",
    )
    return {
        "dir": out,
        "summary": json.loads(done.stdout),
        "json": json.loads((out / "accountability.json").read_text()),
    }


def test_accountability_report(server, traffic, accountability):
    tmp_path = accountability["dir"]
    summary = accountability["summary"]
    assert summary["use_case"] == traffic.trust_use_case and summary["status"] == "approved"
    assert any("feedback" in w and "placeholder" in w for w in summary["warnings"])
    document = json.loads((tmp_path / "accountability.json").read_text())
    assert document["vendor"]["product"] == "facegate"
    assert document["vendor"]["version"] == facegate.__version__
    assert document["model"]["version"] == "dlib-resnet-v1"
    assert set(document["model"]["sha256"]) == set(document["model"]["licences"])
    use_case = document["use_case"]
    assert use_case["purpose"] == "missing_persons"
    assert use_case["description"].startswith("trust-desc-9043")
    assert use_case["operations"] == ["identify", "enroll", "manage"]
    assert document["agency"] == {"organization": TRUST, "sector": "nonprofit", "exemptions": []}
    capabilities = {c["class"]: c for c in document["capabilities"]}
    assert capabilities["identify"]["allowed_by_the_policies_in_force"] is True
    assert capabilities["identify"]["threshold_floor"] == 99
    assert capabilities["identify"]["human_review"] is True
    assert capabilities["verify"]["denied_by"] == ["LIMITED-ACCESS"]  # not registered
    decisions = document["decisions"]
    assert decisions["support_or_make"] == "support"
    assert decisions["human_review"]["required_for_identification"] is True
    assert decisions["human_review"]["quorum"] == 1
    assert decisions["human_review"]["label"] == "INVESTIGATIVE_LEAD"
    assert decisions["threshold"]["operating"] == 99
    assert document["data_management"]["retention_years"] == 3
    assert document["testing"]["demographic_audit"]["status"] == "none on record"
    groups = {g["group"]: g for g in document["testing"]["calibration"]["groups"]}
    # The shipped calibration's own rate at the default threshold (80), as the report states it.
    from facegate.reports.calibration import rate
    from facegate.vision.calibration import shipped_calibration
    from facegate.vision.models import DEFAULT_CHAIN

    table = shipped_calibration(DEFAULT_CHAIN.calibration).document["table"]
    at_80 = next(r for r in table if r["threshold"] == 80)["groups"]["male x black"]["fmr"]
    assert at_80 > 0.5  # the model's worst group: the report must say so
    assert groups["male x black"]["fmr_at_default"] == pytest.approx(at_80, abs=1e-6)
    assert groups["female x white"]["fmr_at_operating"] == 0
    stated = f"{rate(at_80)} of the time among male x black"
    assert any(stated in x for x in document["limitations"])
    assert document["public_feedback"]["contact"] is None
    due = datetime.fromisoformat(document["update"]["next_update_due"])
    assert due.year == datetime.now(UTC).year + 2
    html = (tmp_path / "accountability.html").read_text()
    operator_key = server.operator_keys()[0]  # approved the use case through the admin API
    assert use_case["decided_by"] == "the operator, with an admin API key"
    assert operator_key not in html and operator_key not in json.dumps(document)
    assert "TO BE COMPLETED BY THE OPERATOR" in html
    assert "support decisions; they never make them" in html
    assert "at least every two years" in html


AUDIT = {
    "format": "facegate-fairness-report/1",
    "model_version": "dlib-resnet-v1",
    "dataset": "holdout-portraits",
    "target_fmr": 0.0001,
    "summary": {
        "fmr_max_geomean": {"name": "fmr_max_geomean", "value": 4.25, "reason": None},
        "garbe": {"name": "garbe", "value": 0.31, "reason": None},
        "fdr": {"name": "fdr", "value": None, "reason": "a group has no impostor pairs"},
    },
    "groups": {
        "female x black": {
            "subjects": 6,
            "fmr": {"errors": 3, "trials": 420, "value": 3 / 420, "reason": None},
            "fnmr": {"errors": 1, "trials": 80, "value": 1 / 80, "reason": None},
        },
        "male x white": {
            "subjects": 30,
            "fmr": {"errors": 1, "trials": 17000, "value": 1 / 17000, "reason": None},
            "fnmr": {"errors": 9, "trials": 400, "value": 9 / 400, "reason": None},
        },
    },
}


def test_a_recorded_demographic_audit_reaches_both_reports(
    server, traffic, report, accountability, tmp_path
):
    """The reports above said "none on record"; once an audit is recorded, both summarize it."""
    assert report["json"]["demographic_audit"]["status"] == "none on record"
    assert accountability["json"]["testing"]["demographic_audit"]["status"] == "none on record"
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(AUDIT))
    recorded = json.loads(server.cli("fairness", "record", str(path), "--json").stdout)
    for kind, args in (
        ("transparency", ["--from", traffic.start.isoformat(), "--to", traffic.end.isoformat()]),
        ("accountability", ["--usecase", str(traffic.trust_use_case)]),
    ):
        out = tmp_path / kind
        server.cli("report", kind, *args, "--output-dir", str(out))
        document = json.loads((out / f"{kind}.json").read_text())
        audit = (
            document["demographic_audit"]
            if kind == "transparency"
            else document["testing"]["demographic_audit"]
        )
        assert audit["status"] == "on record"
        assert audit["audit_id"] == recorded["audit_id"]
        assert audit["model_version"] == "dlib-resnet-v1"
        assert audit["dataset"] == "holdout-portraits"
        assert audit["within_limits"] is False  # GARBE 0.31 > 0.25 and GeoMean 4.25 > 3
        assert audit["summary"]["garbe"]["value"] == 0.31
        assert audit["summary"]["fdr"] == {"value": None, "reason": "a group has no impostor pairs"}
        assert [g["group"] for g in audit["groups"]] == ["female x black", "male x white"]
        assert audit["groups"][0]["fmr"] == pytest.approx(3 / 420)
        html = (out / f"{kind}.html").read_text()
        assert "Demographic audit: on record" in html and "holdout-portraits" in html
