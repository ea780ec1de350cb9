"""Printing for the CLI: JSON lines for machines, rich tables for people."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

stdout = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def json_line(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def error_line(label: str, error: dict[str, str]) -> None:
    stderr.print(f"[red]{label}: {error['Type']}[/red]: {error['Message']}", markup=True)
