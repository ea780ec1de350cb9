"""The capabilities the accountability report describes, and what the policies in force
answer a use case for each of them."""

from __future__ import annotations

from typing import Any

from facegate.policy.point import Inputs, Question, Resource
from facegate.policy.registry import Principal
from facegate.reports.sources import Sources

# The capabilities, in the words of policy-rules.md, and the operation that stands for each
# when the policies in force are asked whether this use case may use it.
CAPABILITIES = (
    (
        "detection",
        "detect",
        "DetectFaces",
        "Finds faces in an image and reports each face's box, five landmarks, pose and image "
        "quality. No identity is involved.",
    ),
    (
        "verification",
        "verify",
        "CompareFaces",
        "Compares the face in one image with the faces in another (1:1) and gives a calibrated "
        "similarity from 0 to 100.",
    ),
    (
        "identification",
        "identify",
        "SearchFacesByImage",
        "Searches a collection of enrolled faces for those most similar to a probe face (1:N) and "
        "returns candidates whose similarity reaches the threshold.",
    ),
    (
        "video identification",
        "video-identify",
        "StartFaceSearch",
        "Searches recorded video for faces of a collection (1:N over video).",
    ),
    (
        "enrollment",
        "enroll",
        "IndexFaces",
        "Stores the descriptor of a face (never the image) in a collection, with its legal basis "
        "and provenance, so that it can be searched for.",
    ),
)


def policy_outcomes(
    services: Sources, use_case: dict[str, Any], sector: str, exemptions: list[str]
) -> dict[str, dict[str, Any]]:
    """What the policies in force answer this use case for each capability, as if a request
    carried every input the rules ask for (case and warrant references, legal basis)."""
    caps = {
        name: int(use_case[name])
        for name in ("searches_per_hour", "searches_per_day", "max_faces")
        if use_case.get(name) is not None
    }
    if use_case.get("video_hours_per_day") is not None:
        caps["video_seconds_per_day"] = int(use_case["video_hours_per_day"] * 3600)
    principal = Principal.described(
        sector=sector,
        purpose=use_case["purpose"],
        use_case_status=use_case["status"],
        operations=use_case["operations"],
        exemptions=exemptions,
        human_review=bool(use_case["human_review"]),
        caps=caps,
    )
    account = Resource("Account", "account", 0, principal.organization)
    collection = Resource("Collection", "collection", 0, principal.organization)
    inputs = Inputs(case="(case)", warrant="(warrant)", basis="(basis)", provenance="(source)")
    outcomes: dict[str, dict[str, Any]] = {}
    for _, kind, operation, _ in CAPABILITIES:
        question = Question(
            operation,
            account if operation in ("DetectFaces", "CompareFaces") else collection,
            inputs,
            attributes=("DEFAULT",) if operation in ("DetectFaces", "IndexFaces") else (),
            threshold=0.0 if operation in ("CompareFaces", "SearchFacesByImage") else None,
            max_results=1 if operation == "SearchFacesByImage" else 0,
        )
        try:
            answer = services.point.explain(principal, question)
        except Exception as exc:  # an operator policy that cannot be evaluated, say
            outcomes[kind] = {"allowed": False, "denied_by": [], "note": str(exc)}
            continue
        allowed = answer["decision"] == "allow"
        # The shaping rules are asked even when the request is denied: they say what would
        # apply if it were allowed (an exemption granted, say).
        floor = (
            services.point.floor_for(use_case["purpose"]) if answer.get("threshold_floor") else None
        )
        outcomes[kind] = {
            "allowed": allowed,
            "denied_by": []
            if allowed
            else list(dict.fromkeys(p["rule"] for p in answer["deciding_policies"])),
            "message": answer.get("message"),
            "threshold_floor": floor,
            "human_review": bool(answer.get("human_review_policies"))
            if kind in ("identify", "video-identify")
            else None,
        }
    return outcomes
