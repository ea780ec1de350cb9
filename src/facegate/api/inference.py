"""The service's worker pool: inference off the event loop, with admission control.

Requests beyond ``workers + max_queue`` in flight are refused at once with
``ProvisionedThroughputExceededException`` instead of waiting without an answer. A worker that
dies (it should not) is replaced; the request it held gets ``InternalServerError``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from facegate.config import Settings
from facegate.errors import InternalServerError, ProvisionedThroughputExceededException
from facegate.vision import workers

log = logging.getLogger("facegate.inference")


class InferencePool:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.capacity = settings.workers + settings.max_queue
        self.in_flight = 0
        self._pool: ProcessPoolExecutor | None = None
        self.model_version: str | None = None

    async def start(self) -> None:
        """Start the workers and load the models in each before the first request."""
        self._pool = workers.make_pool(self.settings)
        loop = asyncio.get_running_loop()
        versions = await asyncio.gather(
            *(
                loop.run_in_executor(self._pool, workers.warm_up)
                for _ in range(self.settings.workers)
            )
        )
        self.model_version = versions[0]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def run(self, task: Callable[..., Any], *args: Any) -> Any:
        if self._pool is None:
            raise InternalServerError("The inference workers are not running.")
        if self.in_flight >= self.capacity:
            raise ProvisionedThroughputExceededException(
                f"{self.in_flight} requests are already being processed or waiting "
                f"(capacity {self.capacity}); retry with backoff."
            )
        self.in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, task, *args)
        except BrokenProcessPool:
            log.error("an inference worker died; restarting the pool")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = workers.make_pool(self.settings)
            raise InternalServerError(
                "The worker processing this request stopped unexpectedly; it was restarted. "
                "Retry the request."
            ) from None
        finally:
            self.in_flight -= 1
