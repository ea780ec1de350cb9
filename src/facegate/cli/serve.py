"""``facegate serve``: the HTTP service on the embedded defaults."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from facegate.config import load_settings

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def run_serve(args: argparse.Namespace) -> int:
    settings = load_settings(
        host=args.host,
        port=args.port,
        data_dir=Path(args.data_dir) if args.data_dir else None,
        workers=args.workers,
    )
    if settings.host not in LOOPBACK and not settings.host.startswith("127."):
        # Request signing (SigV4) and keys arrive with the collections service; until then the
        # service must not be reachable from other machines.
        print(
            f"facegate serve: refusing to listen on {settings.host}: this version has no "
            "authentication yet, so it listens on loopback only (127.0.0.1 or ::1).",
            file=sys.stderr,
        )
        return 2
    from facegate.api.app import create_app

    print(
        f"facegate: serving on http://{settings.host}:{settings.port} "
        f"(data in {settings.data_dir.resolve()}, {settings.workers} inference worker(s))",
        flush=True,
    )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0
