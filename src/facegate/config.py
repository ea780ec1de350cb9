"""Settings, read once from the environment (``FACEGATE_*``) with safe embedded defaults.

Every knob a user can turn is here, with its variable name, so ``docs/operations.md`` can list
them and nothing else in the code reads ``os.environ``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

Detector = Literal["hog", "cnn", "auto", "blazeface"]
DETECTORS: tuple[str, ...] = ("hog", "cnn", "auto", "blazeface")
# Which runtime computes the descriptors (vision/onnx/descriptor.py): onnxruntime when it is
# available and matches dlib (auto), dlib's own network (dlib), onnxruntime only (onnx).
DescriptorRuntime = Literal["auto", "dlib", "onnx"]
DESCRIPTOR_RUNTIMES: tuple[str, ...] = ("auto", "dlib", "onnx")
# Which runtime runs the blazeface detector's networks (vision/onnx/detector.py): onnxruntime
# on converted copies when they are available and match OpenCV's (auto), onnxruntime only
# (onnx), OpenCV DNN on the .tflite files (opencv).
DetectorRuntime = Literal["auto", "onnx", "opencv"]
DETECTOR_RUNTIMES: tuple[str, ...] = ("auto", "onnx", "opencv")


@dataclass(frozen=True)
class DecodeLimits:
    """Limits applied to every image before and while it is decoded."""

    max_bytes: int = 15 * 1024 * 1024
    max_pixels: int = 80_000_000
    min_side: int = 80


@dataclass(frozen=True)
class DetectSettings:
    """How faces are found. See docs/engine.md for how the defaults were chosen."""

    detector: Detector = "blazeface"
    # The working copy that HOG scans is scaled so its longer side is at most this.
    max_side: int = 1600
    # HOG upsamples the working copy once when its longer side is at most this (finds ~40 px faces).
    upsample_below: int = 800
    # The CNN scans a copy whose longer side is this (auto: only when HOG found nothing).
    cnn_side: int = 256
    # In cnn mode the CNN scans a copy whose longer side is at most this.
    cnn_max_side: int = 640
    # blazeface: the smallest tiles the back network scans (vision/blazeface.py); it sees them
    # at 256 px, so faces from about a thirteenth of this side (25 px at 320) are found.
    tile_side: int = 320
    # blazeface scans a working copy whose longer side is at most this (bounds the tiles: a
    # 2560x1440 copy takes about 0.4 s on one core).
    tile_max_side: int = 2560
    max_faces: int = 100


@dataclass(frozen=True)
class GovernanceSettings:
    """What the shipped policies read from configuration (docs/policy.md)."""

    # The operator's own Cedar policies; None means <data_dir>/policies (if it exists).
    policy_dir: Path | None = None
    # The moratorium's end (None: in force indefinitely, as Amazon extended it).
    moratorium_end: datetime | None = None
    # THRESHOLD-FLOOR: the floor, and floors per purpose that differ from it.
    threshold_floor: float = 99.0
    threshold_floors: dict[str, float] = field(default_factory=dict)
    # Purposes added to the vocabulary: name -> operation classes it may register for.
    extra_purposes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # HUMAN-REVIEW: a review expires unanswered after this; its material is kept this long
    # after it closes.
    review_ttl_hours: int = 72
    review_retention_days: int = 30
    # Evaluate the time-dependent rules as of this instant instead of now (rehearsals, tests).
    policy_clock: datetime | None = None
    # FAIRNESS-GATE: identification only while a recorded audit is within these limits.
    fairness_gate: bool = False
    fairness_limits: dict[str, float] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """The settings the policies read, for the policy set's version."""
        return json.dumps(
            {
                "moratorium_end": self.moratorium_end.isoformat() if self.moratorium_end else None,
                "threshold_floor": self.threshold_floor,
                "threshold_floors": self.threshold_floors,
                "extra_purposes": self.extra_purposes,
                "policy_clock": self.policy_clock.isoformat() if self.policy_clock else None,
                "fairness_gate": self.fairness_gate,
                "fairness_limits": self.fairness_limits,
            },
            sort_keys=True,
        )


@dataclass(frozen=True)
class VideoSettings:
    """Stored-video jobs (docs/video.md)."""

    # A file a client may name must lie inside this directory (None: naming files is off).
    directory: Path | None = None
    # Uploads larger than this are refused (VideoTooLargeException).
    max_upload_bytes: int = 2 * 1024**3
    # Longest video a job accepts (seconds).
    max_duration_seconds: int = 6 * 3600
    # Frames analysed per second of video.
    sample_fps: float = 5.0
    # Engine processes for video jobs (separate from the request workers).
    workers: int = 1
    # Detector for video frames: HOG at the frame's own size (see docs/video.md).
    detector: Detector = "hog"
    upsample_below: int = 0


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
    governance: GovernanceSettings = field(default_factory=lambda: GovernanceSettings())
    # The audit log's Ed25519 signing key (PEM); None means <data_dir>/audit-signing.key.
    audit_signing_key: str | None = field(default=None, repr=False)
    # Sign the chain's head every this many records, and at least this often (minutes).
    audit_checkpoint_every: int = 1000
    audit_checkpoint_minutes: int = 10
    # RETENTION: how often the server purges faces past their deadline (minutes).
    retention_every_minutes: int = 60
    video: VideoSettings = field(default_factory=VideoSettings)
    descriptor: DescriptorRuntime = "auto"
    detector_runtime: DetectorRuntime = "auto"

    @property
    def policy_dir(self) -> Path:
        """Where the operator's own Cedar policies are read from."""
        return self.governance.policy_dir or self.data_dir / "policies"

    @property
    def max_body_bytes(self) -> int:
        """Largest request body read: two base64 images (CompareFaces) plus JSON framing."""
        return 2 * ((self.decode.max_bytes + 2) // 3 * 4) + 64 * 1024


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    """A variable that names one of ``choices`` (unset or empty: ``default``)."""
    value = _env(name) or default
    if value not in choices:
        raise SystemExit(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


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


def _instant(name: str) -> datetime | None:
    raw = _env(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(f"{name} must be an ISO 8601 date or date and time, got {raw!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _floor(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"{name}: a floor must be a number from 0 to 100, got {raw!r}") from None
    if not 0 <= value <= 100:
        raise SystemExit(f"{name}: a floor must be a number from 0 to 100, got {raw!r}")
    return value


# FAIRNESS-GATE: the limits an operator can set (FACEGATE_FAIRNESS_LIMITS). Limit name ->
# (the audit summary's measure, direction): "max" limits are upper bounds, "min" lower ones.
FAIRNESS_LIMITS: dict[str, tuple[str, str]] = {
    "fmr_max_geomean": ("fmr_max_geomean", "max"),
    "fnmr_max_geomean": ("fnmr_max_geomean", "max"),
    "fmr_max_min": ("fmr_max_min", "max"),
    "fnmr_max_min": ("fnmr_max_min", "max"),
    "garbe": ("garbe", "max"),
    "ir": ("ir", "max"),
    "fdr": ("fdr", "min"),
}
DEFAULT_FAIRNESS_LIMITS = {"fmr_max_geomean": 3.0, "garbe": 0.25}


def parse_fairness_limits(text: str | None) -> dict[str, float]:
    """``name=value,...`` (names from :data:`FAIRNESS_LIMITS`); the defaults when empty."""
    if not text:
        return dict(DEFAULT_FAIRNESS_LIMITS)
    limits: dict[str, float] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or name not in FAIRNESS_LIMITS:
            raise ValueError(
                f"FACEGATE_FAIRNESS_LIMITS: {item!r} is not name=value with a name among "
                f"{', '.join(FAIRNESS_LIMITS)}"
            )
        try:
            limits[name] = float(value)
        except ValueError:
            raise ValueError(f"FACEGATE_FAIRNESS_LIMITS: {value!r} is not a number") from None
    return limits


def load_governance() -> GovernanceSettings:
    floors: dict[str, float] = {}
    for item in (_env("FACEGATE_THRESHOLD_FLOORS") or "").split(","):
        if not item.strip():
            continue
        purpose, eq, value = item.partition("=")
        if not eq or not purpose.strip():
            raise SystemExit(
                f"FACEGATE_THRESHOLD_FLOORS is purpose=floor,..., got the item {item!r}"
            )
        floors[purpose.strip()] = _floor("FACEGATE_THRESHOLD_FLOORS", value.strip())
    extra: dict[str, tuple[str, ...]] = {}
    raw_purposes = _env("FACEGATE_PURPOSES")
    if raw_purposes:
        try:
            parsed = json.loads(raw_purposes)
            assert isinstance(parsed, dict)
            extra = {str(k): tuple(str(op) for op in v) for k, v in parsed.items()}
        except (ValueError, AssertionError, TypeError):
            raise SystemExit(
                'FACEGATE_PURPOSES must be a JSON object such as {"event_photos": '
                '["verify", "identify", "enroll"]}'
            ) from None
    policy_dir = _env("FACEGATE_POLICY_DIR")
    gate = (_env("FACEGATE_FAIRNESS_GATE") or "off").lower()
    if gate not in ("on", "off"):
        raise SystemExit(f"FACEGATE_FAIRNESS_GATE must be on or off, got {gate!r}")
    try:
        fairness_limits = parse_fairness_limits(_env("FACEGATE_FAIRNESS_LIMITS"))
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    return GovernanceSettings(
        policy_dir=Path(policy_dir) if policy_dir else None,
        moratorium_end=_instant("FACEGATE_MORATORIUM_END"),
        threshold_floor=_floor(
            "FACEGATE_THRESHOLD_FLOOR", _env("FACEGATE_THRESHOLD_FLOOR") or "99"
        ),
        threshold_floors=floors,
        extra_purposes=extra,
        review_ttl_hours=_int("FACEGATE_REVIEW_TTL_HOURS", 72),
        review_retention_days=_int("FACEGATE_REVIEW_RETENTION_DAYS", 30),
        policy_clock=_instant("FACEGATE_POLICY_CLOCK"),
        fairness_gate=gate == "on",
        fairness_limits=fairness_limits,
    )


def load_video() -> VideoSettings:
    directory = _env("FACEGATE_VIDEO_DIR")
    detector = _choice("FACEGATE_VIDEO_DETECTOR", DETECTORS, "hog")
    raw_fps = _env("FACEGATE_VIDEO_SAMPLE_FPS") or "5"
    try:
        fps = float(raw_fps)
    except ValueError:
        raise SystemExit(f"FACEGATE_VIDEO_SAMPLE_FPS must be a number, got {raw_fps!r}") from None
    if not 0.1 <= fps <= 60:
        raise SystemExit(f"FACEGATE_VIDEO_SAMPLE_FPS must be from 0.1 to 60, got {fps}")
    return VideoSettings(
        directory=Path(directory).resolve() if directory else None,
        max_upload_bytes=_int("FACEGATE_VIDEO_MAX_BYTES", VideoSettings.max_upload_bytes),
        max_duration_seconds=_int("FACEGATE_VIDEO_MAX_SECONDS", VideoSettings.max_duration_seconds),
        sample_fps=fps,
        workers=_int("FACEGATE_VIDEO_WORKERS", VideoSettings.workers),
        detector=detector,  # type: ignore[arg-type]
        upsample_below=_int("FACEGATE_VIDEO_UPSAMPLE_BELOW", 0, 0),
    )


def load_settings(**overrides: object) -> Settings:
    """Settings from ``FACEGATE_*`` variables; keyword overrides (from the CLI) win."""
    detector = _choice("FACEGATE_DETECTOR", DETECTORS, "blazeface")
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
        tile_side=_int("FACEGATE_DETECT_TILE_SIDE", DetectSettings.tile_side, 192),
        tile_max_side=_int("FACEGATE_DETECT_TILE_MAX_SIDE", DetectSettings.tile_max_side, 192),
    )
    descriptor = _choice("FACEGATE_DESCRIPTOR", DESCRIPTOR_RUNTIMES, "auto")
    detector_runtime = _choice("FACEGATE_DETECTOR_RUNTIME", DETECTOR_RUNTIMES, "auto")
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
        "governance": load_governance(),
        "audit_signing_key": _env("FACEGATE_AUDIT_SIGNING_KEY"),
        "audit_checkpoint_every": _int("FACEGATE_AUDIT_CHECKPOINT_EVERY", 1000),
        "audit_checkpoint_minutes": _int("FACEGATE_AUDIT_CHECKPOINT_MINUTES", 10),
        "retention_every_minutes": _int("FACEGATE_RETENTION_EVERY_MINUTES", 60),
        "video": load_video(),
        "descriptor": descriptor,
        "detector_runtime": detector_runtime,
    }
    known = {f.name for f in fields(Settings)}
    for key, value in overrides.items():
        if key not in known:
            raise TypeError(f"unknown setting {key}")
        if value is not None:
            values[key] = value
    return Settings(**values)  # type: ignore[arg-type]
