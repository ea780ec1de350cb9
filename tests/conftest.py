"""Shared fixtures: the real test images and one real engine per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data() -> Path:
    return DATA


def read(relative: str) -> bytes:
    return (DATA / relative).read_bytes()


@pytest.fixture(scope="session")
def engine():
    """The real engine on the real dlib models. In CI (FACEGATE_REQUIRE_MODELS=1) a missing
    model is a failure, never a skip."""
    try:
        from facegate.vision.engine import FaceEngine

        return FaceEngine()
    except (ImportError, RuntimeError) as exc:
        if os.environ.get("FACEGATE_REQUIRE_MODELS"):
            pytest.fail(f"the real models are required but could not be loaded: {exc}")
        pytest.skip(f"dlib models unavailable: {exc}")


POSTGRES_ADMIN_URL = os.environ.get(
    "FACEGATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def postgres_databases():
    """Makes fresh PostgreSQL databases (one per call), all dropped after the session.

    Without a server the PostgreSQL runs are skipped, except in CI
    (FACEGATE_REQUIRE_POSTGRES=1), where that is a failure.
    """
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        connection = engine.connect()
    except OperationalError as exc:
        if os.environ.get("FACEGATE_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}")
    made: list[str] = []

    def make() -> str:
        name = f"facegate_test_{uuid.uuid4().hex[:12]}"
        connection.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    try:
        yield make
    finally:
        for name in made:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        connection.close()
        engine.dispose()


AUDIT_CHECKPOINT_EVERY = 10  # the audit tests' logs sign a checkpoint this often


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_log(request, tmp_path):
    """(sessions, signer, AuditLog) on a fresh, migrated database of each kind."""
    from facegate.audit.log import AuditLog
    from facegate.audit.signing import load_or_create_signer
    from facegate.db.engine import open_database

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/audit.db"
    else:
        url = request.getfixturevalue("postgres_databases")()
    sessions = open_database(url)
    signer = load_or_create_signer(tmp_path, None)
    audit = AuditLog(sessions, signer, checkpoint_every=AUDIT_CHECKPOINT_EVERY)
    yield sessions, signer, audit
    audit.close()
    sessions.kw["bind"].dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request) -> dict[str, str]:
    """Server environment for each storage backend: every storage test runs on both."""
    if request.param == "sqlite":
        return {}
    return {"FACEGATE_DATABASE_URL": request.getfixturevalue("postgres_databases")()}


# The ways a converted model's cache (vision/onnx/cache.py) is damaged in the tests.
CACHE_DAMAGES = ("flip a byte", "truncate", "wrong record", "old converter")


def damage_cached_model(path: Path, damage: str) -> None:
    """Damage a cached ONNX model (one of CACHE_DAMAGES) or the record beside it."""
    import json

    record = path.with_name(path.name + ".json")
    if damage == "flip a byte":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x40  # inside a weight: still a loadable model
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "wrong record":
        record.write_text(json.dumps({**json.loads(record.read_text()), "onnx_sha256": "0" * 64}))
    elif damage == "old converter":
        record.write_text(json.dumps({**json.loads(record.read_text()), "converter": "old/0"}))
    else:
        raise ValueError(f"unknown damage {damage!r}")


def london_front(subject: str, smiling: bool = False) -> bytes:
    """A London subject's frontal photo (neutral, or smiling: another photo of them)."""
    view, n = ("smiling_front", "08") if smiling else ("neutral_front", "03")
    return (DATA / "london" / view / f"{subject}_{n}.jpg").read_bytes()


def pytest_collection_modifyitems(config, items):
    """Marks what ``make test-fast`` leaves out: tests of modules that start a real server
    (``server``) or drive a browser (``browser``), and tests that analyse the whole London set
    with the real models (a ``london`` fixture: ``slow``). Everything else runs in-process."""
    sources: dict[str, str] = {}
    for item in items:
        path = str(item.path)
        if path not in sources:
            sources[path] = Path(path).read_text()
        source = sources[path]
        if "Server(" in source or "from tests.browser" in source:
            item.add_marker(pytest.mark.server)
        if "from tests.browser" in source:
            item.add_marker(pytest.mark.browser)
        if "london" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
