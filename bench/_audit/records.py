"""The audit records bench/audit.py writes: realistic SearchFacesByImage entries, and the mixed
operations of the million-record log."""

from __future__ import annotations

import datetime
import random
import uuid

from facegate.audit.log import Entry

POLICY_VERSION = "75794427a983ebfc"
LOG_START = datetime.datetime(2026, 1, 5, 7, 0, tzinfo=datetime.UTC)

ORGANIZATIONS = (
    ("northwind-photos", "commercial", "photo_organization"),
    ("city-archive", "government", "media_archive"),
    ("harbor-clinic", "commercial", "access_control"),
    ("state-police", "law_enforcement", "missing_persons"),
    ("univ-vision-lab", "research", "research_evaluation"),
)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def search_entry(rng: random.Random, i: int) -> Entry:
    """An allowed SearchFacesByImage with 5 results, as the service records it."""
    organization, sector, purpose = ORGANIZATIONS[i % len(ORGANIZATIONS)]
    collection = f"{organization}-gallery-{i % 7}"
    return Entry(
        operation="SearchFacesByImage",
        decision="allow",
        organization=organization,
        sector=sector,
        access_key_id=f"FGKEY{(i * 7919) % 40:015d}",
        member="",
        roles=("analyst", "viewer"),
        use_case_id=3 + i % len(ORGANIZATIONS),
        purpose=purpose,
        resource=f"collection/{collection}",
        policy_version=POLICY_VERSION,
        policies=("BASELINE", "TENANT", "THRESHOLD-FLOOR"),
        reasons="",
        requested_threshold=80.0,
        effective_threshold=99.0 if sector == "law_enforcement" else 80.0,
        result_count=5,
        face_ids=[_uuid(rng) for _ in range(5)],
        request_id=_uuid(rng),
        latency_ms=round(rng.uniform(60.0, 420.0), 3),
        detail={
            "collection": collection,
            "max_faces": 5,
            "quality_filter": "AUTO",
            "faces_in_image": rng.randint(1, 4),
            "searched_face": {"confidence": round(rng.uniform(95, 100), 4)},
        },
    )


def mixed_entry(rng: random.Random, i: int) -> Entry:
    """A record of the million-record log: mostly searches, some other operations."""
    entry = search_entry(rng, i)
    kind = i % 20
    if kind in (1, 2):
        entry.operation, entry.resource = "DetectFaces", ""
        entry.policies, entry.face_ids = ("BASELINE",), []
        entry.requested_threshold = entry.effective_threshold = None
        entry.detail = {"faces_in_image": rng.randint(0, 6), "attributes": "DEFAULT"}
    elif kind == 3:
        entry.operation, entry.face_ids = "IndexFaces", [_uuid(rng)]
        entry.policies, entry.result_count = ("BASELINE", "TENANT", "ENROLLMENT-BASIS"), 1
        entry.requested_threshold = entry.effective_threshold = None
        entry.detail = {"legal_basis": "consent", "external_image_id": f"img-{i}"}
    elif kind == 4:
        entry.operation, entry.result_count = "DeleteFaces", 2
        entry.face_ids = [_uuid(rng), _uuid(rng)]
        entry.policies, entry.detail = ("BASELINE", "TENANT"), {}
    elif kind == 5:
        entry.decision, entry.result_count, entry.face_ids = "deny", None, []
        entry.policies = ("SURVEILLANCE-LIMITS.searches-per-hour",)
        entry.reasons = "The use case's hourly search cap (500) is reached; ask the operator."
        entry.error_type = "LimitExceededException"
    elif kind == 6:
        entry.result_count = rng.randint(0, 4)
        entry.face_ids = list(entry.face_ids)[: entry.result_count]
    if entry.sector == "law_enforcement" and entry.operation == "SearchFacesByImage":
        entry.case_reference = f"C-{2026000 + i % 997}"
        entry.policies = (*entry.policies, "CASE-REFERENCE", "HUMAN-REVIEW")
        entry.review_id = _uuid(rng) if entry.decision == "allow" else ""
    return entry
