"""``facegate fairness summarize RATES.csv``: summary measures of a table of per-group rates.

The table has one row per group and the columns ``group,fmr,fnmr`` (rates as fractions in
[0, 1], not percentages; other columns are ignored), so facegate's own figures can be put
beside a vendor's or NIST's published per-group tables. It prints max/min, Max/GeoMean and
Gini of FMR and of FNMR, then FDR, IR and GARBE with ``--alpha`` (default 0.5); a measure that
is undefined for the table (a zero rate in a ratio, a zero mean) is printed as undefined with
the reason, never as a number. ``--json`` prints one JSON object for machines.

Exit codes: 0 on success, 2 for a usage error, 3 for a file that cannot be summarized (one
line on stderr says why).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from facegate.fairness.metrics import DEFAULT_ALPHA, Measure, Summary, summary_measures

EXIT_OK, EXIT_USAGE, EXIT_INPUT_FAILED = 0, 2, 3
PROG = "facegate fairness summarize"
COLUMNS = ("group", "fmr", "fnmr")
DESCRIPTION = (
    "Summary measures of a table of per-group rates (columns group,fmr,fnmr; rates as "
    "fractions in [0, 1]): max/min, Max/GeoMean and Gini of FMR and FNMR, then FDR, IR and "
    "GARBE. Undefined measures are printed as undefined, with the reason."
)


class TableError(Exception):
    """A rates table that cannot be summarized; the message is one line for the operator."""


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise argparse.ArgumentTypeError(f"alpha must be between 0 and 1, got {text}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("rates", metavar="RATES.csv", help="table with columns group,fmr,fnmr")
    p.add_argument(
        "--alpha",
        type=_alpha,
        default=DEFAULT_ALPHA,
        metavar="A",
        help="weight of FMR in FDR, IR and GARBE, between 0 and 1 (default 0.5)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``summarize`` to the ``facegate fairness`` sub-commands (``sub`` is the
    ``add_subparsers()`` of the ``fairness`` parser)."""
    p = sub.add_parser(
        "summarize",
        help="summary measures (max/min, Max/GeoMean, FDR, IR, GARBE) of a per-group rates table",
        description=DESCRIPTION,
    )
    add_arguments(p)
    return p


def _rate(text: str | None, column: str, line: int) -> float:
    if text is None or not text.strip():
        raise TableError(f"line {line}: {column} is empty")
    try:
        value = float(text.strip())
    except ValueError:
        raise TableError(f"line {line}: {column} {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise TableError(f"line {line}: {column} {text.strip()!r} is not a finite number")
    if not 0.0 <= value <= 1.0:
        hint = " (rates are fractions, not percentages)" if 1.0 < value <= 100.0 else ""
        raise TableError(f"line {line}: {column} {value:g} is outside [0, 1]{hint}")
    return value


def read_rates(path: Path) -> tuple[dict[str, float], dict[str, float]]:
    """Per-group FMR and FNMR from a ``group,fmr,fnmr`` table, in the file's order. Raises
    :class:`TableError` with a one-line reason for anything it cannot use."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TableError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TableError(f"{path}: is a directory, not a CSV file") from None
    except UnicodeDecodeError:
        raise TableError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise TableError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        rows = list(csv.reader(text.splitlines()))
    except csv.Error as exc:
        raise TableError(f"{path}: not a readable CSV file ({exc})") from None
    numbered = [(i, r) for i, r in enumerate(rows, start=1) if any(c.strip() for c in r)]
    if not numbered:
        raise TableError(f"{path}: empty file; expected the columns {','.join(COLUMNS)}")
    _, header = numbered[0]
    names = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        found = ", ".join(h.strip() for h in header if h.strip()) or "none"
        raise TableError(f"{path}: missing column(s) {', '.join(missing)} (found: {found})")
    for c in COLUMNS:
        if names.count(c) > 1:
            raise TableError(f"{path}: column {c} appears more than once")
    at = {c: names.index(c) for c in COLUMNS}
    fmr: dict[str, float] = {}
    fnmr: dict[str, float] = {}
    for line, row in numbered[1:]:
        if len(row) < len(header):
            raise TableError(
                f"{path}: line {line}: {len(row)} fields, the header has {len(header)}"
            )
        group = row[at["group"]].strip()
        if not group:
            raise TableError(f"{path}: line {line}: the group name is empty")
        if group in fmr:
            raise TableError(f"{path}: line {line}: group {group!r} appears twice")
        try:
            fmr[group] = _rate(row[at["fmr"]], "fmr", line)
            fnmr[group] = _rate(row[at["fnmr"]], "fnmr", line)
        except TableError as exc:
            raise TableError(f"{path}: {exc}") from None
    if len(fmr) < 2:
        raise TableError(
            f"{path}: {len(fmr)} group(s); the measures compare groups and need at least two"
        )
    return fmr, fnmr


def _fmt(m: Measure, digits: int = 6) -> str:
    if m.value is None:
        return f"undefined ({m.reason})"
    text = f"{m.value:.{digits}g}"
    return f"{text}  [{m.note}]" if m.note else text


def _table(fmr: dict[str, float], fnmr: dict[str, float], s: Summary, source: str) -> str:
    width = max(len("Max/GeoMean"), *(len(g) for g in fmr)) + 2
    lines = [
        f"{source}: {len(fmr)} groups, alpha = {s.alpha:g}",
        "",
        f"{'group':<{width}}{'FMR':>12}  {'FNMR':>12}",
    ]
    lines += [f"{g:<{width}}{fmr[g]:>12.6g}  {fnmr[g]:>12.6g}" for g in fmr]
    lines += ["", "Differentials (1 is parity for the ratios, 0 for Gini)"]
    for label, key in (("max/min", "max_min"), ("Max/GeoMean", "max_geomean"), ("Gini", "gini")):
        f, m = getattr(s.fmr, key), getattr(s.fnmr, key)
        if f.defined and m.defined:
            lines.append(f"{label:<{width}}{_fmt(f):>12}  {_fmt(m):>12}")
        else:
            lines.append(f"{label:<{width}}FMR: {_fmt(f)}; FNMR: {_fmt(m)}")
    lines += [
        "",
        f"Summary measures (alpha = {s.alpha:g} weighs FMR, {1 - s.alpha:g} weighs FNMR)",
    ]
    for label, m, hint in (
        ("FDR", s.fdr, "1 is fair, 0 maximally unfair"),
        ("IR", s.ir, "1 is fair, larger is less fair"),
        ("GARBE", s.garbe, "0 is equitable, 1 maximally inequitable"),
    ):
        lines.append(f"{label:<{width}}{_fmt(m):<12}  ({hint})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``facegate fairness summarize`` on parsed arguments; returns the exit code."""
    path = Path(args.rates)
    try:
        fmr, fnmr = read_rates(path)
    except TableError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_INPUT_FAILED
    s = summary_measures(fmr, fnmr, args.alpha)
    if args.json:
        out: dict[str, Any] = {
            "source": str(path),
            "rates": [{"group": g, "fmr": fmr[g], "fnmr": fnmr[g]} for g in fmr],
            **s.to_dict(),
        }
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        print(_table(fmr, fnmr, s, str(path)))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
