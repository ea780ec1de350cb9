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
