"""How the console is mounted: every console router, and its static files.

``api.app`` includes :func:`routers` (with the REST routers) and mounts :func:`static_files`
at :data:`STATIC_PATH`. A new page module's ``router`` is listed here.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.staticfiles import StaticFiles

from facegate.web import sign_in
from facegate.web.console import PREFIX
from facegate.web.pages import (
    auditor,
    auditor_reports,
    operator,
    operator_health,
    operator_keys,
    operator_policies,
    organization,
    owner,
    reviewer,
)

STATIC_PATH = f"{PREFIX}/static"
STATIC_NAME = "console-static"


def routers() -> list[APIRouter]:
    """Every console router: signing in and the start page, then each role's pages."""
    return [
        sign_in.router,
        reviewer.router,
        owner.router,
        operator.router,
        operator_keys.router,
        operator_policies.router,
        operator_health.router,
        auditor.router,
        auditor_reports.router,
        organization.router,
    ]


def static_files() -> StaticFiles:
    """The console's stylesheet and script (nothing is loaded from another origin)."""
    return StaticFiles(directory=str(resources.files("facegate.web") / "static"))
