"""The operator's policy pages: the policy set in force, and which policies allow or deny a
request (explain).

- ``GET /console/operator/policies``: the policy set;
- ``GET .../policies/explain?...``: the decision for a described principal (or a key's) and
  request, with the policies that decided it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from facegate.actions.administration import Administration
from facegate.errors import FacegateError
from facegate.gallery.tables import SECTORS
from facegate.policy.point import Inputs
from facegate.policy.registry import OPERATION_CLASSES, Principal
from facegate.policy.tables import EXEMPT_PURPOSES, ROLES
from facegate.web.console import services_of
from facegate.web.operating import BASE, Operator, administer, page, within
from facegate.web.route import ConsoleRoute

router = APIRouter(prefix=BASE, route_class=ConsoleRoute, include_in_schema=False)


@router.get("/policies", response_class=HTMLResponse)
async def policies(request: Request, who: Operator) -> Response:
    found = await administer(request, who, lambda a: a.policies())
    return page(
        request, "policies.html", who, title="Policies", **found, **_explain_choices(request)
    )


def _explain_choices(request: Request) -> dict[str, Any]:
    services = services_of(request)
    return {
        "operations": sorted(services.point.policies.actions),
        "sectors": SECTORS,
        "purposes": sorted(services.registry.purposes),
        "statuses": ("approved", "pending", "rejected", "revoked", "expired"),
        "classes": OPERATION_CLASSES,
        "exempt_purposes": EXEMPT_PURPOSES,
        "roles": ROLES,
    }


@router.get("/policies/explain", response_class=HTMLResponse)
async def explain(request: Request, who: Operator) -> Response:
    asked = request.query_params
    services = services_of(request)

    def field(name: str) -> str:
        return asked.get(name, "").strip()[:256]

    def several(name: str) -> list[str]:
        return [v for v in asked.getlist(name) if v][:16]

    def work(a: Administration) -> dict[str, Any]:
        if field("access_key_id"):
            principal = services.registry.principal(field("access_key_id"))
        else:
            principal = Principal.described(
                sector=field("sector") or "commercial",
                purpose=field("purpose"),
                use_case_status=field("use_case_status") or "approved",
                operations=several("operations"),
                exemptions=several("exemptions"),
                roles=several("roles") or ["analyst"],
                human_review=bool(field("human_review")),
            )
        return a.explain(
            principal,
            field("operation"),
            inputs=Inputs(field("case"), field("warrant"), field("basis"), field("provenance")),
            threshold=within(field("threshold"), "The threshold", 100),
            max_results=int(within(field("max_results"), "Max results", 10**6) or 0),
            video_seconds=int(within(field("video_seconds"), "Video seconds", 10**7) or 0),
        )

    result, refused = None, None
    try:
        result = await administer(request, who, work)
    except FacegateError as error:
        if error.type_name == "AccessDeniedException":
            raise  # Administer itself was denied: the refusal page
        refused = error.message
    return page(
        request,
        "explain.html",
        who,
        status=400 if refused else 200,
        title="Explain a decision",
        asked=asked,
        chosen={k: asked.getlist(k) for k in ("operations", "exemptions", "roles")},
        result=result,
        refused=refused,
        **_explain_choices(request),
    )
