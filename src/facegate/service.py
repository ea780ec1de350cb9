"""Assembling the stateful parts from the settings: database, keys, gallery, first start.

The HTTP service and the governance commands (``facegate org``, ``key``, ...) both open the
same data through :func:`open_services`.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from facegate.audit.log import AuditLog, Entry, Recorder
from facegate.audit.signing import load_or_create_signer
from facegate.auth.secrets import SecretBox, load_or_create_master_key
from facegate.config import Settings
from facegate.db.engine import database_url, open_database
from facegate.fairness.gate import FairnessGate
from facegate.footage.consent import Footage
from facegate.gallery.indexes import IndexRegistry
from facegate.gallery.store import Gallery
from facegate.gallery.tokens import TokenSigner
from facegate.policy.accounts import Accounts, IssuedKey
from facegate.policy.console_users import ConsoleAccounts
from facegate.policy.engine import PolicyError, PolicySet, load_policy_set
from facegate.policy.limits import Counters
from facegate.policy.point import DecisionPoint
from facegate.policy.registry import PURPOSES, Registry
from facegate.policy.reviews import Reviews
from facegate.video.jobs import VideoJobs
from facegate.video.store import VideoStore
from facegate.vision.calibration import shipped_calibration
from facegate.vision.models import DEFAULT_CHAIN

OPERATOR_ORGANIZATION = "operator"
OPERATOR_MEMBER = "operator"  # the first operator's member name and console username
PROFILE = "facegate"


@dataclass
class Services:
    settings: Settings
    accounts: Accounts
    gallery: Gallery
    registry: Registry
    point: DecisionPoint
    reviews: Reviews
    audit: AuditLog
    fairness: FairnessGate
    videos: VideoStore
    jobs: VideoJobs
    footage: Footage
    console: ConsoleAccounts

    def close(self) -> None:
        self.gallery.indexes.save_all()
        self.audit.close()


def load_policies(settings: Settings) -> PolicySet:
    """The policy set in force; an invalid policy stops start-up with the reason."""
    try:
        return load_policy_set(settings.policy_dir, settings.governance.fingerprint())
    except PolicyError as exc:
        raise SystemExit(f"facegate: the policy set cannot be loaded. {exc}") from None


def open_services(settings: Settings) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    policies = load_policies(settings)  # before anything else: a bad policy changes nothing
    try:
        master = load_or_create_master_key(settings.data_dir, settings.master_key)
        signer = load_or_create_signer(settings.data_dir, settings.audit_signing_key)
    except ValueError as exc:
        raise SystemExit(f"facegate: {exc}") from None
    sessions = open_database(database_url(settings.data_dir, settings.database_url))
    box = SecretBox(master)
    governance = settings.governance
    fixed = governance.policy_clock

    def clock() -> datetime:
        return fixed if fixed is not None else datetime.now(UTC)

    accounts = Accounts(sessions, box)
    gallery = Gallery(
        sessions,
        IndexRegistry(sessions, settings.data_dir / "index", settings.index_approximate_from),
        TokenSigner(master),
        shipped_calibration(DEFAULT_CHAIN.calibration),
        DEFAULT_CHAIN.version,
        box,
    )
    gate = FairnessGate(
        sessions,
        DEFAULT_CHAIN.version,
        enabled=governance.fairness_gate,
        limits=governance.fairness_limits,
    )
    point = DecisionPoint(
        policies,
        Counters(sessions),
        floors=governance.threshold_floors,
        default_floor=governance.threshold_floor,
        moratorium_end=governance.moratorium_end,
        clock=clock,
        gate=gate.status,
    )
    reviews = Reviews(
        sessions,
        box,
        ttl=timedelta(hours=governance.review_ttl_hours),
        retention=timedelta(days=governance.review_retention_days),
        clock=clock,
    )
    audit = AuditLog(sessions, signer, settings.audit_checkpoint_every)
    videos = VideoStore(sessions, settings.data_dir / "videos", settings.video, clock)
    return Services(
        settings,
        accounts,
        gallery,
        Registry(sessions, {**PURPOSES, **governance.extra_purposes}, clock),
        point,
        reviews,
        audit,
        gate,
        videos,
        VideoJobs(sessions, videos, gallery, reviews, audit, settings, clock),
        footage=Footage(sessions, clock),
        console=ConsoleAccounts(sessions, clock, audit),
    )


@dataclass(frozen=True)
class FirstStart:
    """What the first start created, to show once: the operator's key and console sign-in."""

    key: IssuedKey
    console_user: str
    console_password: str


def bootstrap(services: Services, endpoint: str) -> FirstStart | None:
    """On first start: the operator organization, its key (written where SDKs find it) and
    the first operator's console sign-in.

    Returns what to print once, or None when the data directory was set up before.
    """
    if services.accounts.has_operator():
        return None
    services.accounts.create_organization(
        OPERATOR_ORGANIZATION,
        sector="commercial",
        is_operator=True,
        record=_first_start_record(services, "CreateOrganization"),
    )
    key = services.accounts.issue_key(
        OPERATOR_ORGANIZATION,
        "created on first start",
        record=_first_start_record(services, "IssueKey"),
    )
    password = secrets.token_urlsafe(15)
    services.registry.add_member(
        OPERATOR_ORGANIZATION,
        OPERATOR_MEMBER,
        ["admin", "auditor"],
        record=_first_start_record(services, "AddMember"),
    )
    services.console.create_user(
        OPERATOR_ORGANIZATION,
        OPERATOR_MEMBER,
        OPERATOR_MEMBER,
        password,
        created_by="first start",
        record=_first_start_record(services, "CreateConsoleUser"),
    )
    data_dir = services.settings.data_dir
    write_private(
        data_dir / "credentials",
        f"[{PROFILE}]\naws_access_key_id = {key.access_key_id}\n"
        f"aws_secret_access_key = {key.secret_access_key}\n",
    )
    write_private(
        data_dir / "config",
        f"[profile {PROFILE}]\nregion = {services.settings.region}\nendpoint_url = {endpoint}\n",
    )
    return FirstStart(key, OPERATOR_MEMBER, password)


def _first_start_record(services: Services, action: str) -> Recorder:
    """The record of one change the first start makes (``System.<action>``, by "first
    start", in the operator's organization): it commits with the change."""
    entry = Entry(
        operation=f"System.{action}",
        decision="allow",
        organization=OPERATOR_ORGANIZATION,
        member="first start",
        policy_version=services.point.version,
        detail={"organization": OPERATOR_ORGANIZATION},
    )
    return Recorder(services.audit, entry)


def write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (created 0600, never briefly wider)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
