"""audit head keeps the previous hash

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

The head row holds the hash before the last record's too, so that one PostgreSQL statement can
claim the next number, hash the record and write it (``UPDATE ... RETURNING`` returns only the
new values of a row; the previous hash is copied into ``prev_hash`` by the same update).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("prev_hash", sa.String(length=64), nullable=False, server_default="")
        )
    bind = op.get_bind()
    last = bind.execute(
        sa.text("SELECT prev_hash FROM audit_records ORDER BY seq DESC LIMIT 1")
    ).scalar()
    bind.execute(
        sa.text("UPDATE audit_head SET prev_hash = :prev WHERE id = 1"),
        {"prev": last if last is not None else GENESIS},
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("prev_hash")
