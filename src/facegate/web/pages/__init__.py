"""The console's pages, one module per role's work; each module's ``router`` is listed here."""

from __future__ import annotations

from fastapi import APIRouter

PAGE_ROUTERS: list[APIRouter] = []
