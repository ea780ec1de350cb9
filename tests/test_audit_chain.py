"""The audit chain under attack: rows edited, deleted, inserted, reordered or rewritten directly
in SQLite and PostgreSQL, and exports edited; verification names the exact record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from facegate.audit import chain
from facegate.audit.export import download, export_file
from facegate.audit.log import Entry
from facegate.audit.signing import Signer, load_or_create_signer
from facegate.audit.verify import verify_database, verify_export
from tests.conftest import AUDIT_CHECKPOINT_EVERY

RECORDS = 30
EVERY = AUDIT_CHECKPOINT_EVERY
START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def log(audit_log):
    sessions, signer, audit = audit_log
    for i in range(RECORDS):
        audit.append(
            Entry(
                operation="SearchFacesByImage" if i % 2 else "IndexFaces",
                decision="allow" if i % 3 else "deny",
                organization=f"org-{i % 3}",
                sector="commercial",
                access_key_id=f"FGKEY{i:015d}",
                roles=("analyst",),
                policies=("BASELINE",) if i % 3 else ("LIMITED-ACCESS",),
                requested_threshold=80.0,
                effective_threshold=99.0 if i % 4 == 0 else 80.0,
                result_count=i % 5,
                face_ids=[f"00000000-0000-4000-8000-{i:012d}"],
                request_id=f"req-{i}",
                latency_ms=1.25 + i,
                detail={"i": i},
            ),
            at=START + timedelta(minutes=i),
        )
    return sessions, signer, audit


def run(sessions, sql: str, **params) -> None:
    with sessions.begin() as s:
        s.execute(text(sql), params)


def first(sessions, signer):
    report = verify_database(sessions, signer.public_pem)
    assert not report.ok
    found = report.findings[0]
    return found.kind, found.seq


def test_an_untouched_log_verifies_with_its_checkpoints(log):
    sessions, signer, audit = log
    report = verify_database(sessions, signer.public_pem)
    assert report.ok, report.to_dict()
    assert report.records == RECORDS and report.last_seq == RECORDS
    assert report.checkpoints == report.checkpoints_verified == RECORDS // EVERY
    assert audit.checkpoint() is None  # nothing new since the checkpoint at 30


def test_an_edited_row_is_named(log):
    sessions, signer, _ = log
    run(sessions, "UPDATE audit_records SET decision = 'allow' WHERE seq = 13")
    assert first(sessions, signer) == ("altered", 13)


def test_an_edited_threshold_is_named(log):
    sessions, signer, _ = log
    run(sessions, "UPDATE audit_records SET effective_threshold = 50 WHERE seq = 21")
    assert first(sessions, signer) == ("altered", 21)


def test_a_deleted_row_is_named(log):
    sessions, signer, _ = log
    run(sessions, "DELETE FROM audit_records WHERE seq = 15")
    assert first(sessions, signer) == ("removed", 15)


def test_an_inserted_row_is_named_even_with_a_correct_hash(log):
    sessions, signer, _ = log
    with sessions.begin() as s:
        prev = s.execute(text("SELECT hash FROM audit_records WHERE seq = 19")).scalar()
        # make room at 20: shift 20.. up by one (through negatives: no key clash on the way)
        s.execute(text("UPDATE audit_records SET seq = -seq WHERE seq >= 20"))
        s.execute(text("UPDATE audit_records SET seq = 1 - seq WHERE seq < 0"))
    forged = {name: None for name in chain.HASHED_FIELDS}
    forged.update(
        at=START,
        organization="org-0",
        operation="DeleteFaces",
        decision="allow",
        roles="[]",
        policies="[]",
        face_ids="[]",
        detail="{}",
        reasons="",
        sector="",
        access_key_id="",
        member="",
        purpose="",
        resource="",
        policy_version="",
        error_type="",
        case_reference="",
        warrant_reference="",
        review_id="",
        request_id="",
    )
    digest = chain.record_hash(prev, forged)
    columns = ", ".join(["seq", "prev_hash", "hash", *forged])
    values = ", ".join(f":{name}" for name in ["seq", "prev_hash", "hash", *forged])
    run(
        sessions,
        f"INSERT INTO audit_records ({columns}) VALUES ({values})",
        seq=20,
        prev_hash=prev,
        hash=digest,
        **forged,
    )
    assert first(sessions, signer) == ("inserted", 20)


def test_swapped_rows_are_named(log):
    sessions, signer, _ = log
    with sessions.begin() as s:
        s.execute(text("UPDATE audit_records SET seq = -1 WHERE seq = 7"))
        s.execute(text("UPDATE audit_records SET seq = 7 WHERE seq = 8"))
        s.execute(text("UPDATE audit_records SET seq = 8 WHERE seq = -1"))
    assert first(sessions, signer) == ("reordered", 7)


def test_a_recomputed_chain_is_caught_by_the_signed_checkpoint(log):
    """Whoever edits record 4 and recomputes every hash after it still cannot sign."""
    sessions, signer, _ = log
    run(sessions, "UPDATE audit_records SET decision = 'allow' WHERE seq = 4")  # was deny
    with sessions.begin() as s:
        rows = s.execute(text("SELECT * FROM audit_records ORDER BY seq")).mappings().all()
        prev = chain.GENESIS
        for row in rows:
            digest = chain.record_hash(prev, dict(row))
            s.execute(
                text("UPDATE audit_records SET prev_hash = :p, hash = :h WHERE seq = :q"),
                {"p": prev, "h": digest, "q": row["seq"]},
            )
            prev = digest
        s.execute(text("UPDATE audit_head SET hash = :h"), {"h": prev})
    assert first(sessions, signer) == ("rewritten", 10)


def test_records_cut_from_the_end_are_noticed(log):
    sessions, signer, _ = log
    run(sessions, "DELETE FROM audit_records WHERE seq > 25")
    kind, seq = first(sessions, signer)
    assert (kind, seq) == ("truncated", 26)


def test_a_forged_signature_is_refused(log, tmp_path):
    sessions, _, _ = log
    other = Signer(load_or_create_signer(tmp_path / "other", None).private)
    report = verify_database(sessions, other.public_pem)
    assert [f.kind for f in report.findings] == ["bad-signature"] * (RECORDS // EVERY)


def test_an_export_verifies_alone_and_names_an_edited_line(log, tmp_path):
    sessions, signer, _ = log
    path = tmp_path / "export.jsonl"
    written = export_file(sessions, signer, path)
    assert written == {"records": 30, "first_seq": 1, "last_seq": 30, "checkpoints": 3}
    report = verify_export(path, signer.public_pem)
    assert report.ok and report.checkpoints_verified == 3
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["key_id"] == signer.key_id and "BEGIN PUBLIC KEY" in header["public_key"]
    record = json.loads(lines[9])  # the ninth record
    record["result_count"] = 4 if record["result_count"] != 4 else 3
    lines[9] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    edited = verify_export(path, signer.public_pem)
    assert (edited.findings[0].kind, edited.findings[0].seq) == ("altered", 9)
    # a range (since/until) verifies on its own too
    ranged = tmp_path / "range.jsonl"
    assert (
        export_file(
            sessions,
            signer,
            ranged,
            since=START + timedelta(minutes=10),
            until=START + timedelta(minutes=20),
        )["records"]
        == 10
    )
    assert verify_export(ranged, signer.public_pem).ok


def test_a_partial_export_checks_each_record(log, tmp_path):
    sessions, signer, _ = log
    path = tmp_path / "org-1.jsonl"
    assert export_file(sessions, signer, path, organization="org-1")["records"] == 10
    report = verify_export(path, signer.public_pem)
    assert report.ok and report.partial and report.records == 10
    lines = path.read_text().splitlines()
    record = json.loads(lines[3])
    record["decision"] = "deny" if record["decision"] == "allow" else "allow"
    lines[3] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    edited = verify_export(path, signer.public_pem)
    assert (edited.findings[0].kind, edited.findings[0].seq) == ("altered", record["seq"])


def test_a_download_is_the_export_in_chunks(log, tmp_path):
    """The API's and the console's download: the same lines as the file, a chunk at a time."""
    sessions, signer, audit = log
    path = tmp_path / "log.jsonl"
    export_file(sessions, signer, path)
    chunks = list(download(audit, chunk_chars=2000))
    assert len(chunks) > 3 and "".join(chunks) == path.read_text()
    assert all(chunk.endswith("\n") for chunk in chunks)  # whole lines in every chunk
