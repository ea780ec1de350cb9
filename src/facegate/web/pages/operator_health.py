"""The operator's health page: what ``/health`` says, the video job queue, open reviews, the
audit log's head and last signed checkpoint (:mod:`facegate.actions.health`).

- ``GET /console/operator/health``: one ``Administer`` decision and record
  (:func:`facegate.web.console.act`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from facegate.actions import health as service_health
from facegate.web.console import acted, services_of
from facegate.web.operating import BASE, Operator, page
from facegate.web.route import ConsoleRoute

router = APIRouter(prefix=BASE, route_class=ConsoleRoute, include_in_schema=False)


def system_health(request: Request) -> dict[str, Any]:
    """What ``/health`` says, and the state of the job queue, the reviews and the audit log."""
    state = request.app.state
    served = service_health.served(state.settings.workers, state.pool)
    return service_health.system(services_of(request), served)


@router.get("/health", response_class=HTMLResponse)
async def health(request: Request, who: Operator) -> Response:
    found = await acted(
        request, who, "Administer", lambda _record: system_health(request), resource="health"
    )
    return page(request, "health.html", who, title="System health", **found)
