"""The accountability report Washington's SB 6280 asks of an agency for one use case.

:func:`accountability` writes ``accountability.html`` and ``accountability.json``: vendor,
product and model, capabilities and limitations (from the calibration artifact), data inputs
and processing, the use case, human review, data management and retention, testing, and how
the public gives feedback (a placeholder the operator fills in: facegate has no setting for it
yet).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from facegate import __version__
from facegate.gallery.tables import Organization
from facegate.policy.point import SERVED_OPERATIONS
from facegate.policy.reviews import LEAD_LABEL, LEAD_NOTICE
from facegate.reports.calibration import calibration_facts, rate
from facegate.reports.capabilities import CAPABILITIES, policy_outcomes
from facegate.reports.demographic import demographic_audit
from facegate.reports.period import operation_classes
from facegate.reports.render import write_html, write_json
from facegate.reports.sources import Sources
from facegate.vision.calibration import shipped_calibration
from facegate.vision.models import DEFAULT_CHAIN, ModelChain, file_digest

UPDATE_EVERY_YEARS = 2
FEEDBACK_PLACEHOLDER = (
    "TO BE COMPLETED BY THE OPERATOR BEFORE PUBLICATION: how members of the public can comment "
    "on this use case (postal address, e-mail address or web form, and any public meeting where "
    "it is discussed)."
)


def accountability(services: Sources, use_case_id: int, out_dir: Path) -> dict[str, Any]:
    """Write the SB 6280 accountability report for one use case into ``out_dir``."""
    from facegate.vision.engine import DEFAULT_SIMILARITY_THRESHOLD  # (imports dlib)

    use_case = services.registry.use_case(use_case_id)
    for who in ("registered_by", "decided_by"):  # a person or the CLI, never a key id
        if str(use_case.get(who) or "").startswith("key:"):
            use_case[who] = "the operator, with an admin API key"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generated = datetime.now(UTC)
    settings = services.settings
    governance = settings.governance
    warnings: list[str] = []
    organization = use_case["organization"]
    with services.registry.sessions() as s:
        org = s.scalar(select(Organization).where(Organization.name == organization))
        sector = org.sector if org is not None else ""
    exemptions = sorted(
        {e["purpose"] for e in services.registry.exemptions(organization) if e["active"]}
    )
    outcomes = policy_outcomes(services, use_case, sector, exemptions)
    classes = operation_classes(services)
    capabilities = []
    for name, kind, _, what in CAPABILITIES:
        operations = sorted(o for o, k in classes.items() if k == kind)
        outcome = outcomes[kind]
        capabilities.append(
            {
                "capability": name,
                "class": kind,
                "description": what,
                "operations": operations,
                "offered_by_this_version": any(o in SERVED_OPERATIONS for o in operations),
                "registered_for_this_use_case": kind == "detect" or kind in use_case["operations"],
                "allowed_by_the_policies_in_force": outcome["allowed"],
                "denied_by": outcome["denied_by"],
                "threshold_floor": outcome.get("threshold_floor"),
                "human_review": outcome.get("human_review"),
            }
        )
    identify = outcomes["identify"]
    floors = [o["threshold_floor"] for o in outcomes.values() if o.get("threshold_floor")]
    operating = max(floors) if floors else DEFAULT_SIMILARITY_THRESHOLD
    calibration = shipped_calibration(DEFAULT_CHAIN.calibration).document
    facts, calibration_limits = calibration_facts(
        dict(calibration), DEFAULT_SIMILARITY_THRESHOLD, operating
    )
    digests, digest_warnings = _model_files(DEFAULT_CHAIN)
    warnings += digest_warnings
    limitations = [
        "No inference of age, gender, emotion, ethnicity or any other personal trait (rule "
        "NO-ATTRIBUTES): a face is described by its geometry and image quality only.",
        "No live-stream (real-time) identification (rule NO-REALTIME)"
        + (
            "; the operator has enabled it for this use case."
            if use_case.get("realtime")
            else "; it is not enabled for this use case."
        ),
        "A result is a similarity score, a statement of likelihood on test data, never an "
        "identification: people who look alike score high, and the same person can score low "
        "(age, pose, light, image quality).",
        *calibration_limits,
    ]
    review_required = bool(identify.get("human_review"))
    decisions = {
        "support_or_make": "support",
        "statement": "facegate's results support decisions; they never make them. facegate "
        "returns candidates and similarity scores to people and has no interface that acts on a "
        "person.",
        "human_review": {
            "required_for_identification": review_required,
            "quorum": use_case["review_quorum"],
            "how": "Candidate lists of this use case's searches are held back and released to "
            "the requester only after "
            + (
                "two reviewers agree"
                if use_case["review_quorum"] == 2
                else "a reviewer confirms specific candidates"
            )
            + "; a reviewer holds the reviewer role and is never the requester; unanswered "
            f"reviews expire after {governance.review_ttl_hours} hours."
            if review_required
            else "The policies in force do not hold this use case's candidates for human review; "
            "the organization receives candidates directly and must not treat them as "
            "identifications.",
            "label": LEAD_LABEL,
            "notice": LEAD_NOTICE,
        },
        "threshold": {
            "default": DEFAULT_SIMILARITY_THRESHOLD,
            "floor": max(floors) if floors else None,
            "operating": operating,
            "statement": (
                f"Requests are never answered below similarity {operating:g} (THRESHOLD-FLOOR): "
                "a caller's lower threshold is raised to the floor."
                if floors
                else f"No threshold floor binds this use case; the default threshold is "
                f"{DEFAULT_SIMILARITY_THRESHOLD:g} and callers may choose another."
            ),
        },
    }
    data = {
        "inputs": [
            "Images (JPEG or PNG, at most "
            f"{settings.decode.max_bytes // (1024 * 1024)} MB and {settings.decode.max_pixels:,} "
            "pixels) sent with each request: probe images to detect, compare or search, and "
            "enrollment images.",
            "What the organization sends with them: its own image or person labels "
            "(ExternalImageId, UserId), the legal basis and provenance of each enrollment, case "
            "and warrant references, similarity thresholds and the number of candidates wanted.",
        ],
        "generated": [
            "For each face found: a bounding box, five landmarks, pose angles and image quality "
            "measures (brightness, sharpness, confidence).",
            f"For faces compared or searched: a {DEFAULT_CHAIN.dimensions}-number descriptor made "
            f"by the model {DEFAULT_CHAIN.version}, and similarity scores from 0 to 100 "
            f"calibrated by {calibration.get('version')}.",
            "For every request, allowed or denied: one audit record (who, when, which use case "
            "and purpose, which operation, the decision and the rules that made it, thresholds, "
            "case reference, how many results and the face ids returned). Never an image, never "
            "a descriptor.",
        ],
        "stored": [
            "For enrolled faces only: the descriptor, box, geometry and quality, the SHA-256 of "
            "the image (not the image), the label, legal basis and provenance, enrollment time, "
            "last interaction, deletion deadline and use case.",
            "Images are never stored, with one exception: where human review applies, an "
            "encrypted crop of each enrolled face and of a held search's probe face, so that a "
            "reviewer can compare them. Crops are deleted with their face; a review's material "
            f"is deleted {governance.review_retention_days} days after the review closes.",
            "Probe images of detection, comparison and search requests are processed in memory "
            "and discarded.",
        ],
        "processing": [
            "Every request passes one policy decision point before any image is decoded; a "
            "denial names the rule that denied it.",
            "Detection runs dlib's HOG detector, then its CNN detector where needed; faces are "
            "aligned on five landmarks and described by a ResNet descriptor; descriptors are "
            "compared by Euclidean distance, mapped to the calibrated similarity.",
        ],
    }
    retention = {
        "retention_years": use_case["retention_years"],
        "use_case_expires": use_case["expires"],
        "rule": "A stored face is deleted at the earlier of the use case's end "
        f"({use_case['expires']}) and {use_case['retention_years']:g} years after its last "
        "interaction (enrollment, a match in a search, an update) (rule RETENTION, after "
        "Illinois BIPA 15(a)).",
        "purge": f"The server purges faces past their deadline every "
        f"{settings.retention_every_minutes} minutes (also `facegate retention run`), everywhere "
        "(database rows, index files, crops), and writes a deletion receipt whose hash is in "
        "the audit log.",
        "erasure": "Every face of a person (by ExternalImageId or UserId) is erased across the "
        "organization's collections on request (`facegate erase --org ORG --subject ID`, rule "
        "ERASURE, GDPR art. 17: answer within one month), with a receipt.",
        "reviews": f"An unanswered review expires after {governance.review_ttl_hours} hours; "
        "what a review holds (sealed candidate list, crops, release) is deleted "
        f"{governance.review_retention_days} days after it closes.",
        "audit_log": "The audit log is append-only and hash-chained; its head is signed every "
        f"{settings.audit_checkpoint_every} records and every "
        f"{settings.audit_checkpoint_minutes} minutes. No interface changes or deletes records.",
    }
    testing = {
        "demographic_audit": demographic_audit(services),
        "calibration": facts,
    }
    mitigations = []
    if floors:
        mitigations.append(f"threshold floor {operating:g} (THRESHOLD-FLOOR)")
    if review_required:
        mitigations.append("human review of every candidate list (HUMAN-REVIEW)")
    if sector in ("law_enforcement", "government"):
        mitigations.append("a case reference with every verification and identification")
    if sector == "law_enforcement":
        mitigations.append(
            "the moratorium on law-enforcement identification unless exempt (MORATORIUM), and a "
            "warrant or court order for video identification (WARRANT)"
        )
    caps = [
        f"{label} {use_case[key]:g}"
        for key, label in (
            ("searches_per_hour", "searches per hour"),
            ("searches_per_day", "searches per day"),
            ("max_faces", "candidates per search"),
            ("video_hours_per_day", "video hours per day"),
        )
        if use_case.get(key) is not None
    ]
    if caps:
        mitigations.append("caps against mass surveillance: " + ", ".join(caps))
    civil_rights = {
        "disparate_impact": "The calibration shows much higher false match rates for some "
        "demographic groups at low thresholds (see limitations); a false match can direct "
        "suspicion or a decision at the wrong person.",
        "mitigations_in_force": mitigations,
    }
    feedback = {"contact": None, "placeholder": FEEDBACK_PLACEHOLDER}
    warnings.insert(
        0,
        "The public feedback section is a placeholder: facegate has no setting for a feedback "
        "contact yet; fill it in before publishing the report.",
    )
    if use_case["status"] != "approved":
        warnings.append(
            f"Use case {use_case_id} is {use_case['status']}, not approved: its keys cannot "
            "verify, identify or enroll."
        )
    due = _years_later(generated, UPDATE_EVERY_YEARS).date()
    document = {
        "report": "facegate accountability report",
        "format": "facegate-accountability/1",
        "law": "Washington SB 6280 (2020), chapter 43.386 RCW: accountability report",
        "generated_at": generated.isoformat(),
        "update": {
            "statement": "To be updated at least every two years, and whenever the use case, the "
            "model or the policies change.",
            "next_update_due": due.isoformat(),
        },
        "vendor": {
            "vendor": "the facegate project (open source, self-hosted)",
            "product": "facegate",
            "version": __version__,
            "licence": "Apache-2.0",
            "policy_set_version": services.point.version,
        },
        "model": {**DEFAULT_CHAIN.describe(), "sha256": digests},
        "agency": {"organization": organization, "sector": sector, "exemptions": exemptions},
        "use_case": use_case,
        "capabilities": capabilities,
        "limitations": limitations,
        "data": data,
        "decisions": decisions,
        "data_management": retention,
        "testing": testing,
        "civil_rights": civil_rights,
        "public_feedback": feedback,
        "warnings": warnings,
    }
    html_path = write_html(
        out_dir / "accountability.html",
        "accountability.html",
        r=document,
        generated=generated.date().isoformat(),
        outcomes=outcomes,
        rate=rate,
    )
    json_path = out_dir / "accountability.json"
    write_json(json_path, document)
    return {
        "html": str(html_path),
        "json": str(json_path),
        "use_case": use_case_id,
        "status": use_case["status"],
        "generated_at": generated.isoformat(),
        "next_update_due": due.isoformat(),
        "warnings": warnings,
    }


def _model_files(chain_: ModelChain) -> tuple[dict[str, str], list[str]]:
    """The SHA-256 of each model file of ``chain_``, and why one could not be computed."""
    digests: dict[str, str] = {}
    warnings: list[str] = []
    for model in (chain_.cnn, chain_.landmarks, chain_.descriptor, *chain_.blazeface):
        try:
            digests[model.filename] = file_digest(model.path())
        except (RuntimeError, OSError) as exc:
            warnings.append(f"The SHA-256 of {model.filename} could not be computed: {exc}")
    return digests, warnings


def _years_later(moment: datetime, years: int) -> datetime:
    """The same day ``years`` later (28 February for 29 February)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)
