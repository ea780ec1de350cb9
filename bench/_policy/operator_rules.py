"""The 100 operator policies of bench/policy.py's ``operator100`` set: ten Cedar files of ten.

Forbids by weekday and hour, by sector and purpose, low thresholds, test and demo case
references, roles, usage and result caps, collection names, blackout dates, blocked
organizations / use cases / keys, and a few sector rules. None of them matches an allowed
scenario of the benchmark; OPS-MISC-10 (criminal investigations need a daily cap) also denies
scenario c.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ANY_ACTION = "principal, action, resource"


def _policy(policy_id: str, advice: str, head: str, condition: str, error: str = "") -> str:
    notes = f'@id("{policy_id}")\n'
    if error:
        notes += f'@error("{error}")\n'
    notes += f'@advice("{advice}")\n'
    return f"{notes}forbid ({head})\nwhen {{ {condition} }};\n"


def _on(*classes: str) -> str:
    """The scope of a forbid on one operation class, or on any of several."""
    actions = [f'Facegate::Action::"{name}"' for name in classes]
    action = actions[0] if len(actions) == 1 else f"[{', '.join(actions)}]"
    return f"principal, action in {action}, resource"


def _identify() -> str:
    return _on("identify", "video-identify")


def _series(
    prefix: str,
    rows: Iterable[Any],
    rule: Callable[..., tuple[str, str, str]],
    error: str = "",
) -> list[str]:
    """``{prefix}-01``, ``-02``, ...: one policy per row, ``rule(*row)`` giving its advice,
    scope and condition."""
    out = []
    for i, row in enumerate(rows, start=1):
        advice, head, condition = rule(*row) if isinstance(row, tuple) else rule(row)
        out.append(_policy(f"{prefix}-{i:02d}", advice, head, condition, error=error))
    return out


def _hours() -> list[str]:
    """Night-time and weekend rules on context.weekday / context.hour."""
    days = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

    def night(weekday: int, day: str) -> tuple[str, str, str]:
        return (
            f"No identification on {day} nights (23:00-05:00 UTC).",
            _identify(),
            f"context.weekday == {weekday} && (context.hour >= 23 || context.hour < 5)",
        )

    return [
        *_series("OPS-HOURS", enumerate(days, start=1), night),
        _policy(
            "OPS-HOURS-08",
            "Commercial identification only on weekdays.",
            _identify(),
            'context.weekday >= 6 && principal.sector == "commercial"',
        ),
        _policy(
            "OPS-HOURS-09",
            "Research enrollment only in office hours (08:00-18:00 UTC, Monday-Friday).",
            _on("enroll"),
            'principal.sector == "research" && '
            "(context.weekday >= 6 || context.hour < 8 || context.hour >= 18)",
        ),
        _policy(
            "OPS-HOURS-10",
            "No video identification on Sundays.",
            _on("video-identify"),
            "context.weekday == 7",
        ),
    ]


def _purposes() -> list[str]:
    """Purposes the operator does not serve in some sectors, per operation class."""
    pairs = (
        ("commercial", "media_archive", "video-identify"),
        ("commercial", "research_evaluation", "identify"),
        ("community", "access_control", "identify"),
        ("nonprofit", "media_archive", "identify"),
        ("research", "access_control", "enroll"),
        ("research", "photo_organization", "identify"),
        ("government", "media_archive", "identify"),
        ("government", "photo_organization", "enroll"),
        ("law_enforcement", "research_evaluation", "identify"),
        ("law_enforcement", "media_archive", "video-identify"),
    )

    def rule(sector: str, purpose: str, cls: str) -> tuple[str, str, str]:
        return (
            f"This server does not offer {cls} for {purpose} to {sector} organizations.",
            _on(cls),
            f'principal.sector == "{sector}" && principal.purpose == "{purpose}"',
        )

    return _series("OPS-PURPOSE", pairs, rule)


def _thresholds() -> list[str]:
    """Minimum similarity thresholds by sector or purpose (denials, not floors)."""
    rules = (
        ('principal.sector == "commercial"', "70.0"),
        ('principal.sector == "community"', "90.0"),
        ('principal.sector == "nonprofit"', "85.0"),
        ('principal.sector == "research"', "60.0"),
        ('principal.purpose == "access_control"', "95.0"),
        ('principal.purpose == "media_archive"', "85.5"),
        ('principal.purpose == "research_evaluation"', "50.0"),
        (
            'principal.sector == "government" && principal.purpose == "criminal_investigation"',
            "95.0",
        ),
        ('principal.purpose == "trafficking_victims"', "75.25"),
        (
            'principal.sector == "law_enforcement" && '
            'principal.purpose == "criminal_investigation"',
            "95.0",
        ),
    )

    def rule(who: str, low: str) -> tuple[str, str, str]:
        return (
            f"Identification below a similarity threshold of {low} is not accepted here.",
            _identify(),
            f'{who} && context.threshold.lessThan(decimal("{low}"))',
        )

    return _series("OPS-THRESHOLD", rules, rule)


def _cases() -> list[str]:
    """Case references that must not reach real galleries, and required formats."""
    patterns = ("TEST-*", "DEMO-*", "SANDBOX-*", "*-TRAINING", "tmp*", "*EXAMPLE*", "XXX*")

    def rule(pattern: str) -> tuple[str, str, str]:
        return (
            f"Case references like {pattern} are for the test server.",
            _on("verify", "identify", "video-identify"),
            f'context.case like "{pattern}"',
        )

    return [
        *_series("OPS-CASE", patterns, rule),
        _policy(
            "OPS-CASE-08",
            "Law-enforcement case references have the form C-<number>.",
            _identify(),
            'principal.sector == "law_enforcement" && context.case != "" && '
            '!(context.case like "C-*")',
        ),
        _policy(
            "OPS-CASE-09",
            "Government case references have the form GOV-<number>.",
            _identify(),
            'principal.sector == "government" && !(context.case like "GOV-*")',
        ),
        _policy(
            "OPS-CASE-10",
            "Video identification by law enforcement needs a warrant reference W-<number>.",
            _on("video-identify"),
            'principal.sector == "law_enforcement" && !(context.warrant like "W-*")',
        ),
    ]


def _roles() -> list[str]:
    """Which roles may do what, beyond the shipped ROLES rule."""
    rules = (
        ("enroll", 'principal.roles.contains("auditor") && !principal.roles.contains("admin")'),
        ("identify", 'principal.roles.contains("auditor") && !principal.roles.contains("admin")'),
        ("manage", 'principal.roles.contains("auditor") && !principal.roles.contains("admin")'),
        (
            "identify",
            'principal.roles.contains("reviewer") && !principal.roles.contains("analyst")',
        ),
        ("video-identify", '!principal.roles.contains("admin") && principal.sector == "research"'),
        ("enroll", 'principal.sector == "law_enforcement" && principal.holder like "key:*"'),
        ("live-identify", '!principal.roles.contains("admin")'),
        ("review", 'principal.roles.contains("auditor") && principal.roles.contains("analyst")'),
        ("administer", '!principal.roles.contains("admin") && principal.holder like "member:*"'),
        ("verify", 'principal.roles.isEmpty() && principal.sector != "commercial"'),
    )

    def rule(cls: str, condition: str) -> tuple[str, str, str]:
        return f"The key's roles do not allow {cls} here.", _on(cls), condition

    return _series("OPS-ROLE", rules, rule)


def _caps() -> list[str]:
    """Operator-wide usage and result caps (on top of the use cases' own)."""
    rules = (
        ('principal.sector == "commercial" && context.searches_today >= 50000', "identify"),
        ('principal.sector == "community" && context.searches_today >= 500', "identify"),
        ('principal.sector == "research" && context.searches_this_hour >= 2000', "identify"),
        ("context.max_results > 100", "identify"),
        ('principal.sector == "research" && context.max_results > 25', "identify"),
        ("context.video_seconds > 14400", "video-identify"),
        ("context.video_seconds_today + context.video_seconds > 86400", "video-identify"),
        ('principal.sector == "government" && !(principal has max_faces)', "identify"),
        ("principal has max_faces && principal.max_faces > 50", "identify"),
        ("context.max_results > 20", "verify"),
    )

    def rule(condition: str, cls: str) -> tuple[str, str, str]:
        return (
            "The operator's cap for this server is reached; ask the operator.",
            _on(cls),
            condition,
        )

    return _series("OPS-CAP", rules, rule, error="LimitExceededException")


def _collections() -> list[str]:
    """Galleries that must not be searched or filled, by name."""
    names = (
        "*minors*",
        "*children*",
        "*protest*",
        "*school*",
        "*-scraped",
        "social-media-*",
        "*patients*",
        "*employees-private*",
        "*refugee*",
    )

    def rule(pattern: str) -> tuple[str, str, str]:
        return (
            f"Collections named like {pattern} may not be searched or enrolled into.",
            _on("identify", "video-identify", "enroll"),
            f'resource.name like "{pattern}"',
        )

    return [
        *_series("OPS-COLLECTION", names, rule),
        _policy(
            "OPS-COLLECTION-10",
            "Collections of the decommissioned organization 999999 are frozen.",
            _on("enroll"),
            'resource.organization == Facegate::Organization::"999999"',
        ),
    ]


def _blackouts() -> list[str]:
    """Dates on which identification is suspended (past and future windows)."""
    windows = (
        ("2024-06-06", "2024-06-10"),
        ("2024-11-04", "2024-11-06"),
        ("2024-12-24", "2024-12-27"),
        ("2025-01-20", "2025-01-21"),
        ("2025-12-24", "2025-12-27"),
        ("2026-05-01", "2026-05-02"),
        ("2026-11-02", "2026-11-04"),
        ("2027-06-01", "2027-06-08"),
        ("2028-11-06", "2028-11-08"),
        ("2031-12-24", "2031-12-27"),
    )

    def rule(start: str, end: str) -> tuple[str, str, str]:
        return (
            f"Identification is suspended from {start} to {end} (UTC).",
            _identify(),
            f'context.now >= datetime("{start}T00:00:00Z") && '
            f'context.now < datetime("{end}T00:00:00Z")',
        )

    return _series("OPS-BLACKOUT", windows, rule)


def _blocklist() -> list[str]:
    """Organizations, use cases and keys the operator has blocked (incidents)."""

    def organization(org: int) -> tuple[str, str, str]:
        return (
            "This organization's access is suspended; contact the operator.",
            ANY_ACTION,
            f'principal.organization == Facegate::Organization::"{org}"',
        )

    def use_case(number: int) -> tuple[str, str, str]:
        return (
            "This use case is suspended pending an audit.",
            _identify(),
            f"principal.use_case == {number}",
        )

    def key(key_id: str) -> tuple[str, str, str]:
        return "This access key is blocked.", ANY_ACTION, f'principal.holder == "key:{key_id}"'

    return [
        *_series("OPS-BLOCK-ORG", (4711, 8150, 9001), organization),
        *_series("OPS-BLOCK-USECASE", (1337, 2024, 31337), use_case),
        *_series("OPS-BLOCK-KEY", ("FGLEAKEDKEY2QX7HJ4A", "FGLEAKEDKEY7ZP3MN2B"), key),
        _policy(
            "OPS-BLOCK-STAGING",
            "Staging organizations cannot identify on the production server.",
            _identify(),
            'principal.organization.name like "*-staging"',
        ),
        _policy(
            "OPS-BLOCK-PENDING",
            "Nothing but detection for keys whose use case is not approved.",
            _on("manage"),
            'principal.use_case_status == "revoked" || principal.use_case_status == "rejected"',
        ),
    ]


def _misc() -> list[str]:
    """Sector rules of this deployment."""
    rules = (
        (
            _identify(),
            'principal.sector == "research" && !principal.human_review',
            "Research identification needs human review on this server.",
        ),
        (
            _on("video-identify"),
            'principal.sector == "community"',
            "Community organizations cannot search video.",
        ),
        (
            _on("live-identify"),
            'principal.sector != "government"',
            "Live identification is for government use cases only.",
        ),
        (
            'principal, action == Facegate::Action::"DetectFaces", resource',
            'context.attributes.contains("ALL")',
            "Ask for DEFAULT attributes.",
        ),
        (
            _on("enroll"),
            'principal.sector == "commercial" && context.basis like "*legitimate interest*"',
            "Commercial enrollment needs consent, not legitimate interest.",
        ),
        (
            _on("enroll"),
            'context.provenance like "http*://*"',
            "Images downloaded from the web cannot be enrolled.",
        ),
        (
            _identify(),
            'principal.sector == "law_enforcement" && principal.use_case_status != "approved"',
            "Law-enforcement identification needs an approved use case.",
        ),
        (
            'principal, action == Facegate::Action::"ReleaseCandidates", resource',
            'principal.sector == "nonprofit" && principal.purpose == "media_archive"',
            "Media-archive candidates of nonprofits go to review.",
        ),
        (
            _on("verify"),
            'principal.sector == "community" && context.threshold.lessThan(decimal("95.0"))',
            "Community verification needs a threshold of at least 95.",
        ),
        (
            _identify(),
            'principal.purpose == "criminal_investigation" && !(principal has searches_per_day)',
            "Criminal-investigation use cases need a daily search cap.",
        ),
    )

    def rule(head: str, condition: str, advice: str) -> tuple[str, str, str]:
        return advice, head, condition

    return _series("OPS-MISC", rules, rule)


def operator_policy_files() -> dict[str, str]:
    """File name -> Cedar text of the 100 operator policies (ten files of ten)."""
    themes: dict[str, Callable[[], list[str]]] = {
        "10-hours.cedar": _hours,
        "20-purposes.cedar": _purposes,
        "30-thresholds.cedar": _thresholds,
        "40-cases.cedar": _cases,
        "50-roles.cedar": _roles,
        "60-caps.cedar": _caps,
        "70-collections.cedar": _collections,
        "80-blackouts.cedar": _blackouts,
        "90-blocklist.cedar": _blocklist,
        "95-misc.cedar": _misc,
    }
    files = {}
    for name, make in themes.items():
        policies = make()
        assert len(policies) == 10, (name, len(policies))
        files[name] = f"// facegate benchmark: operator policies ({name})\n\n" + "\n".join(policies)
    return files


def write_operator_policies(directory: Path) -> dict[str, str]:
    """The ten files written to ``directory``; their names and texts."""
    directory.mkdir(parents=True, exist_ok=True)
    files = operator_policy_files()
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return files
