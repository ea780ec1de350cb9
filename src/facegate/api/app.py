"""The HTTP service: one FastAPI application, its worker pool started and stopped with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from facegate import __version__
from facegate.api import awsjson
from facegate.api.inference import InferencePool
from facegate.config import Settings, load_settings
from facegate.vision.models import DEFAULT_CHAIN


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        pool = InferencePool(settings)
        app.state.pool = pool
        await pool.start()
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(
        title="facegate",
        version=__version__,
        description="Self-hosted face recognition whose responsible-use rules are enforced "
        "by the software. The AWS JSON 1.1 (Rekognition) front door is POST /.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(awsjson.router)

    @app.get("/health", tags=["service"])
    async def health() -> dict[str, object]:
        pool: InferencePool = app.state.pool
        return {
            "status": "ok",
            "version": __version__,
            "model": DEFAULT_CHAIN.describe(),
            "workers": settings.workers,
            "in_flight": pool.in_flight,
        }

    return app
