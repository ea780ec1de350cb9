"""Settings, read once from the environment (``FACEGATE_*``) with safe embedded defaults.

Every knob a user can turn is here, with its variable name, so ``docs/operations.md`` can list
them and nothing else in the code reads ``os.environ``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

Detector = Literal["hog", "cnn", "auto"]
DETECTORS: tuple[str, ...] = ("hog", "cnn", "auto")


@dataclass(frozen=True)
class DecodeLimits:
    """Limits applied to every image before and while it is decoded."""

    max_bytes: int = 15 * 1024 * 1024
    max_pixels: int = 80_000_000
    min_side: int = 80


@dataclass(frozen=True)
class DetectSettings:
    """How faces are found. See docs/engine.md for how the defaults were chosen."""

    detector: Detector = "auto"
    # The working copy that HOG scans is scaled so its longer side is at most this.
    max_side: int = 1600
    # HOG upsamples the working copy once when its longer side is at most this (finds ~40 px faces).
    upsample_below: int = 800
    # The CNN scans a copy whose longer side is this (auto: only when HOG found nothing).
    cnn_side: int = 256
    # In cnn mode the CNN scans a copy whose longer side is at most this.
    cnn_max_side: int = 640
    max_faces: int = 100


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("facegate-data")
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    # Requests waiting for a worker beyond this are refused with ProvisionedThroughputExceeded.
    max_queue: int = 64
    decode: DecodeLimits = field(default_factory=DecodeLimits)
    detect: DetectSettings = field(default_factory=DetectSettings)
    # SQLAlchemy URL of the system of record; None means a SQLite file in data_dir.
    database_url: str | None = None
    # The master key that seals API secrets (Fernet, base64); None means <data_dir>/master.key.
    master_key: str | None = field(default=None, repr=False)
    # A collection's index switches from exact search to HNSW at this many faces.
    index_approximate_from: int = 100_000
    region: str = "us-east-1"

    @property
    def max_body_bytes(self) -> int:
        """Largest request body read: two base64 images (CompareFaces) plus JSON framing."""
        return 2 * ((self.decode.max_bytes + 2) // 3 * 4) + 64 * 1024


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def _int(name: str, default: int, minimum: int = 1) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum}, got {value}")
    return value


def load_settings(**overrides: object) -> Settings:
    """Settings from ``FACEGATE_*`` variables; keyword overrides (from the CLI) win."""
    detector = _env("FACEGATE_DETECTOR") or "auto"
    if detector not in DETECTORS:
        raise SystemExit(
            f"FACEGATE_DETECTOR must be one of {', '.join(DETECTORS)}, got {detector!r}"
        )
    decode = DecodeLimits(
        max_bytes=_int("FACEGATE_MAX_IMAGE_BYTES", DecodeLimits.max_bytes),
        max_pixels=_int("FACEGATE_MAX_IMAGE_PIXELS", DecodeLimits.max_pixels),
        min_side=_int("FACEGATE_MIN_IMAGE_SIDE", DecodeLimits.min_side),
    )
    detect = DetectSettings(
        detector=detector,  # type: ignore[arg-type]
        max_side=_int("FACEGATE_DETECT_MAX_SIDE", DetectSettings.max_side, 160),
        upsample_below=_int("FACEGATE_DETECT_UPSAMPLE_BELOW", DetectSettings.upsample_below, 0),
        cnn_side=_int("FACEGATE_DETECT_CNN_SIDE", DetectSettings.cnn_side, 80),
        cnn_max_side=_int("FACEGATE_DETECT_CNN_MAX_SIDE", DetectSettings.cnn_max_side, 80),
    )
    values: dict[str, object] = {
        "data_dir": Path(_env("FACEGATE_DATA_DIR") or "facegate-data"),
        "host": _env("FACEGATE_HOST") or "127.0.0.1",
        "port": _int("FACEGATE_PORT", 8080),
        "workers": _int("FACEGATE_WORKERS", max(1, os.cpu_count() or 1)),
        "max_queue": _int("FACEGATE_MAX_QUEUE", 64),
        "decode": decode,
        "detect": detect,
        "database_url": _env("FACEGATE_DATABASE_URL"),
        "master_key": _env("FACEGATE_MASTER_KEY"),
        "index_approximate_from": _int("FACEGATE_INDEX_APPROXIMATE_FROM", 100_000),
        "region": _env("FACEGATE_REGION") or "us-east-1",
    }
    known = {f.name for f in fields(Settings)}
    for key, value in overrides.items():
        if key not in known:
            raise TypeError(f"unknown setting {key}")
        if value is not None:
            values[key] = value
    return Settings(**values)  # type: ignore[arg-type]
