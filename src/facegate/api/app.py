"""The HTTP service: one FastAPI application, its worker pool started and stopped with it."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException as StarletteHTTPException

from facegate import __version__
from facegate.actions import health as service_health
from facegate.actions.maintenance import Schedule
from facegate.api import awsjson, rest
from facegate.api.inference import InferencePool
from facegate.api.rest import admin as rest_admin
from facegate.api.rest import audit as rest_audit
from facegate.api.rest import footage as rest_footage
from facegate.api.rest import reviews as rest_reviews
from facegate.api.rest import usecases as rest_usecases
from facegate.api.rest import videos as rest_videos
from facegate.config import Settings, load_settings
from facegate.errors import InvalidParameterException, ResourceNotFoundException
from facegate.gallery.idempotency import Idempotency
from facegate.service import Services, bootstrap, open_services
from facegate.web import routes as console


def announce_first_start(services: Services) -> None:
    """Create the operator's organization and key on first start and print them, once."""
    settings = services.settings
    first = bootstrap(services, f"http://{settings.host}:{settings.port}")
    if first is None:
        return
    key = first.key
    data_dir = settings.data_dir.resolve()
    print(
        "facegate: first start. The operator organization's key (shown only this once):\n"
        f"  aws_access_key_id     = {key.access_key_id}\n"
        f"  aws_secret_access_key = {key.secret_access_key}\n"
        f"It is also in {data_dir / 'credentials'} (profile 'facegate'); use it with\n"
        f"  AWS_SHARED_CREDENTIALS_FILE={data_dir / 'credentials'} "
        f"AWS_CONFIG_FILE={data_dir / 'config'} AWS_PROFILE=facegate\n"
        f"The first operator's console sign-in (shown only this once; change it with "
        f"`facegate user set-password {first.console_user}`):\n"
        f"  http://{settings.host}:{settings.port}/console\n"
        f"  username = {first.console_user}\n"
        f"  password = {first.console_password}",
        flush=True,
    )


MAINTENANCE_TICK_SECONDS = 30


def routers() -> list[APIRouter]:
    """Every router of the application: the AWS JSON door, the REST API, the console."""
    return [
        awsjson.router,
        rest.router,
        rest_reviews.router,
        rest_admin.router,
        rest_audit.router,
        rest_usecases.router,
        rest_videos.router,
        rest_footage.router,
        *console.routers(),
    ]


async def maintain(services: Services) -> None:
    """Review expiry, retention purges and audit checkpoints, each when it is due."""
    schedule = Schedule(services)
    while True:
        try:
            await asyncio.to_thread(schedule.run_due)
        except Exception:  # run_due logs its own failures; this keeps the loop alive regardless
            logging.getLogger("facegate.maintenance").exception("maintenance failed")
        await asyncio.sleep(MAINTENANCE_TICK_SECONDS)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = open_services(settings)
        announce_first_start(services)
        # SQL is the truth: every collection's index is checked (and rebuilt if stale) before
        # the first request is accepted.
        await asyncio.to_thread(services.gallery.indexes.load_all)
        app.state.services = services
        app.state.console_accounts = services.console
        app.state.idempotency = Idempotency(services.gallery.sessions)
        pool = InferencePool(settings)
        app.state.pool = pool
        await pool.start()
        # Video jobs a stopped server left running are resumed (or failed) now.
        await asyncio.to_thread(services.jobs.begin)
        sweeper = asyncio.create_task(maintain(services))
        try:
            yield
        finally:
            sweeper.cancel()
            await asyncio.to_thread(services.jobs.close)
            pool.close()
            services.close()

    app = FastAPI(
        title="facegate",
        version=__version__,
        description="Self-hosted face recognition whose responsible-use rules are enforced "
        "by the software. The AWS JSON 1.1 (Rekognition) front door is POST /.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    for router in routers():
        app.include_router(router)
    app.mount(console.STATIC_PATH, console.static_files(), name=console.STATIC_NAME)

    @app.exception_handler(StarletteHTTPException)
    async def unknown_route(request: Request, exc: StarletteHTTPException) -> Response:
        """Unknown paths and methods under /v1 answer in the REST error shape."""
        if not request.url.path.startswith("/v1"):
            return await http_exception_handler(request, exc)
        error = (
            ResourceNotFoundException if exc.status_code == 404 else InvalidParameterException
        )(f"{request.method} {request.url.path}: {exc.detail}. See /docs for the REST API.")
        request_id = str(uuid.uuid4())
        response = rest.error_response(error, request_id)
        response.status_code = exc.status_code
        response.headers[rest.REQUEST_ID_HEADER] = request_id
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.get("/health", tags=["service"])
    async def health() -> dict[str, object]:
        return health_of(app)

    return app


def health_of(app: FastAPI) -> dict[str, object]:
    """What ``GET /health`` answers (:func:`facegate.actions.health.served`; the operator's
    console shows it too)."""
    return service_health.served(app.state.settings.workers, app.state.pool)
