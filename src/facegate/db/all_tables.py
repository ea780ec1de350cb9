"""Registers every table on :data:`facegate.db.Base`'s metadata (one schema, one migration
history): the Alembic environment and :func:`facegate.db.engine.open_database` import it.

It imports each package's ``tables`` module and nothing else of theirs; table modules import
only :mod:`facegate.db`, so this is no upward dependency (see tests/test_layers.py).
"""

from facegate.audit import tables as audit_tables
from facegate.fairness import tables as fairness_tables
from facegate.footage import tables as footage_tables
from facegate.gallery import tables as gallery_tables
from facegate.policy import tables as policy_tables
from facegate.video import tables as video_tables

MODULES = (
    gallery_tables,
    policy_tables,
    audit_tables,
    fairness_tables,
    video_tables,
    footage_tables,
)
