"""CHECK constraints on the enumerated columns that had none

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

The audit record's decision (allow, deny, error), a deletion receipt's kind (retention,
erasure), a video's source (upload, directory) and a video job's kind (detection, search) and
status (QUEUED, IN_PROGRESS, SUCCEEDED, FAILED) were checked in Python only; the policy and
footage tables already had theirs. The values are frozen here (a migration never imports
live code). Rows that hold another value would make the upgrade fail: facegate never wrote
any, so that failure would point at a database edited by hand.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CHECKS = (
    ("audit_records", "audit_decision_known", "decision", ("allow", "deny", "error")),
    ("deletion_receipts", "deletion_receipt_kind_known", "kind", ("retention", "erasure")),
    ("videos", "video_source_known", "source", ("upload", "directory")),
    ("video_jobs", "video_job_kind_known", "kind", ("detection", "search")),
    (
        "video_jobs",
        "video_job_status_known",
        "status",
        ("QUEUED", "IN_PROGRESS", "SUCCEEDED", "FAILED"),
    ),
)


def _condition(column: str, values: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({listed})"


def upgrade() -> None:
    for table in dict.fromkeys(t for t, *_ in CHECKS):
        with op.batch_alter_table(table) as batch:
            for t, name, column, values in CHECKS:
                if t == table:
                    batch.create_check_constraint(name, _condition(column, values))


def downgrade() -> None:
    for table in dict.fromkeys(t for t, *_ in CHECKS):
        with op.batch_alter_table(table) as batch:
            for t, name, _column, _values in CHECKS:
                if t == table:
                    batch.drop_constraint(name, type_="check")
