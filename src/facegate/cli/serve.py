"""``facegate serve``: the HTTP service on the embedded defaults."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from facegate.config import load_settings


def run_serve(args: argparse.Namespace) -> int:
    settings = load_settings(
        host=args.host,
        port=args.port,
        data_dir=Path(args.data_dir) if args.data_dir else None,
        workers=args.workers,
    )
    from facegate.api.app import create_app
    from facegate.service import load_policies

    load_policies(settings)  # an invalid policy stops here, with its reason, before serving

    print(
        f"facegate: serving on http://{settings.host}:{settings.port} "
        f"(data in {settings.data_dir.resolve()}, {settings.workers} inference worker(s))",
        flush=True,
    )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0
