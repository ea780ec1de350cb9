"""Verifying the audit log: recompute the chain and the signatures, name the first break.

Works on records from the database or from an export (JSON Lines), so an outsider holding an
export and the public key can check it without the server. The walk goes in sequence order:

- a gap in the sequence numbers: records were **removed** (the first missing number is named);
- a record whose stored hash does not match its content: it was **altered**, unless the next
  record links to the one before it, in which case it was **inserted**;
- a record that does not link to the one before it although its own hash is intact: it was
  **reordered** (when it links to a later record) or a record before it was **inserted**;
- a signed checkpoint whose hash differs from the record at its number: the log up to there was
  rewritten (hashes recomputed), and the signature proves it;
- a checkpoint or head beyond the last record: records at the end were removed.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit import chain
from facegate.audit.signing import checkpoint_message, load_public, verify_signature
from facegate.audit.tables import AuditCheckpoint, AuditHead, AuditRecord

BATCH = 5000


@dataclass
class Finding:
    seq: int
    kind: str  # altered, removed, inserted, reordered, rewritten, truncated, bad-signature
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "message": self.message}


@dataclass
class Report:
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_hash: str = ""
    checkpoints: int = 0
    checkpoints_verified: int = 0
    findings: list[Finding] = field(default_factory=list)
    partial: bool = False  # a selection: each record checked alone, not the chain

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "head_hash": self.head_hash,
            "checkpoints": self.checkpoints,
            "checkpoints_verified": self.checkpoints_verified,
            "partial": self.partial,
            "first_problem": self.findings[0].to_dict() if self.findings else None,
            "problems": [f.to_dict() for f in self.findings[:20]],
        }


@dataclass(frozen=True)
class Row:
    seq: int
    prev_hash: str
    hash: str
    fields: dict[str, Any]

    @property
    def content_ok(self) -> bool:
        return chain.record_hash(self.prev_hash, self.fields) == self.hash


def verify_rows(
    rows: Iterable[Row],
    checkpoints: Iterable[dict[str, Any]] = (),
    public_pem: str | None = None,
    *,
    start_prev: str = chain.GENESIS,
    start_seq: int = 1,
    head: tuple[int, str] | None = None,
) -> Report:
    """Walk ``rows`` in sequence order (see the module docstring for what is reported)."""
    report = Report()
    checkpoints = list(checkpoints)
    signed = {int(cp["seq"]) for cp in checkpoints}
    hashes: dict[int, str] = {}  # only at the checkpoints' numbers: memory stays flat
    window: list[Row] = []  # the last three rows, for classifying a break
    expected_seq, prev_hash = start_seq, start_prev
    pending: Row | None = None  # a row whose classification needs the next one

    def finding(seq: int, kind: str, message: str) -> None:
        report.findings.append(Finding(seq, kind, message))

    for row in rows:
        report.records += 1
        if report.first_seq is None:
            report.first_seq = row.seq
        report.last_seq = row.seq
        if row.seq in signed:
            hashes[row.seq] = row.hash
        if pending is not None:
            before = window[-2] if len(window) >= 2 else None
            base = before.hash if before is not None else start_prev
            if row.prev_hash == base:
                finding(
                    pending.seq,
                    "inserted",
                    f"Record {pending.seq} was inserted: the "
                    f"record after it links to the record before it.",
                )
            else:
                finding(
                    pending.seq,
                    "altered",
                    f"Record {pending.seq} was altered: its content does not match its hash.",
                )
            pending = None
        window = [*window, row][-3:]
        if report.findings:
            continue  # the first break is named; the walk only counts what follows
        if row.seq != expected_seq:
            if row.seq > expected_seq:
                missing = f"{expected_seq}" + (
                    f" to {row.seq - 1}" if row.seq - 1 > expected_seq else ""
                )
                finding(expected_seq, "removed", f"Record(s) {missing} were removed.")
            else:
                finding(row.seq, "reordered", f"Record {row.seq} is out of sequence.")
            continue
        if not row.content_ok:
            pending = row
        elif row.prev_hash != prev_hash:
            if len(window) >= 3 and row.prev_hash == window[-3].hash:
                finding(
                    window[-2].seq,
                    "inserted",
                    f"Record {window[-2].seq} was inserted "
                    f"between records {window[-3].seq} and {row.seq}.",
                )
            else:
                finding(
                    row.seq,
                    "reordered",
                    f"Record {row.seq} does not follow record "
                    f"{row.seq - 1}: records were reordered or replaced.",
                )
        expected_seq, prev_hash = row.seq + 1, row.hash
    if pending is not None:
        finding(
            pending.seq,
            "altered",
            f"Record {pending.seq} was altered: its content does not match its hash.",
        )
    report.head_hash = prev_hash
    last = report.last_seq or (start_seq - 1)
    public = load_public(public_pem) if public_pem else None
    for cp in checkpoints:
        report.checkpoints += 1
        seq = int(cp["seq"])
        message = checkpoint_message(seq, cp["hash"], cp["at"], cp["key_id"])
        if public is None or not verify_signature(public, cp["signature"], message):
            finding(
                seq,
                "bad-signature",
                f"The checkpoint at record {seq} does not verify with the public key.",
            )
            continue
        report.checkpoints_verified += 1
        if seq > last:
            finding(
                last + 1,
                "truncated",
                f"A signed checkpoint names record {seq}, but the "
                f"log ends at {last}: records at the end were removed.",
            )
        elif seq in hashes and hashes[seq] != cp["hash"]:
            finding(
                seq,
                "rewritten",
                f"The signed checkpoint at record {seq} does not match "
                "the log: records up to it were altered and the chain recomputed.",
            )
    # (after a break the walk stops following the chain, so the head says nothing more)
    intact = not report.findings
    if intact and head is not None and (head[0] != last or (last and head[1] != prev_hash)):
        finding(
            min(head[0], last) + 1,
            "truncated",
            f"The log's head says record {head[0]}, but the records end at {last}.",
        )
    report.findings.sort(key=lambda f: f.seq)
    return report


# --- from the database ---------------------------------------------------------------------


def _db_rows(sessions: sessionmaker[Session]) -> Iterator[Row]:
    """Every record in sequence order, read in batches as plain rows (no ORM objects)."""
    table = AuditRecord.__table__
    after = 0
    while True:
        with sessions() as s:
            batch = (
                s.connection()
                .execute(
                    select(table).where(table.c.seq > after).order_by(table.c.seq).limit(BATCH)
                )
                .mappings()
                .all()
            )
        if not batch:
            return
        for record in batch:
            yield Row(
                record["seq"],
                record["prev_hash"],
                record["hash"],
                {name: record[name] for name in chain.HASHED_FIELDS},
            )
        after = batch[-1]["seq"]


def db_checkpoints(sessions: sessionmaker[Session]) -> list[dict[str, Any]]:
    with sessions() as s:
        return [
            {
                "seq": c.seq,
                "hash": c.hash,
                "at": chain.timestamp(c.at),
                "key_id": c.key_id,
                "signature": c.signature,
            }
            for c in s.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq))
        ]


def verify_database(sessions: sessionmaker[Session], public_pem: str) -> Report:
    with sessions() as s:
        found = s.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    head = (int(found[0]), found[1]) if found else None
    return verify_rows(_db_rows(sessions), db_checkpoints(sessions), public_pem, head=head)


# --- from an export --------------------------------------------------------------------------


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(f"{path}:{number} is not JSON.") from None


def _export_rows(path: Path) -> Iterator[Row]:
    for _, item in _lines(path):
        if item.get("type") == "record":
            fields = {name: item.get(name) for name in chain.HASHED_FIELDS}
            yield Row(int(item["seq"]), item["prev_hash"], item["hash"], fields)


def read_export(path: Path) -> tuple[dict[str, Any], Iterator[Row], list[dict[str, Any]]]:
    """(header, records, checkpoints) of an export written by facegate.audit.export.

    The records are read lazily (a second pass over the file), so memory stays flat however
    long the export is."""
    header: dict[str, Any] = {}
    checkpoints: list[dict[str, Any]] = []
    for _, item in _lines(path):
        kind = item.get("type")
        if kind == "header":
            header = item
        elif kind == "checkpoint":
            checkpoints.append(item)
    if not header:
        raise ValueError(f"{path} has no header line: it is not a facegate audit export.")
    return header, _export_rows(path), checkpoints


def verify_selection(rows: Iterable[Row]) -> Report:
    """A partial export (one organization's records): the records do not link, so each is
    checked against its own hash only; to check the chain, verify a full export."""
    report = Report(partial=True)
    for row in rows:
        report.records += 1
        report.first_seq = row.seq if report.first_seq is None else report.first_seq
        report.last_seq = row.seq
        if not row.content_ok and not report.findings:
            report.findings.append(
                Finding(
                    row.seq,
                    "altered",
                    f"Record {row.seq} was altered: its content does not match its hash.",
                )
            )
    return report


def verify_export(path: Path, public_pem: str | None = None) -> Report:
    """Verify an export on its own (with the public key it carries, or the one given)."""
    header, rows, checkpoints = read_export(path)
    if header.get("partial"):
        return verify_selection(rows)
    first = next(rows, None)
    if first is None:
        return verify_rows([], checkpoints, public_pem or header.get("public_key"))
    return verify_rows(
        itertools.chain([first], rows),
        checkpoints,
        public_pem or header.get("public_key"),
        start_prev=first.prev_hash,
        start_seq=first.seq,
    )
