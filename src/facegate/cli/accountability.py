"""``facegate audit|retention|erase|report``: the audit log, deletions and reports.

``audit verify --export FILE`` needs no server data at all: an outsider checks an export with
the public key (``--public-key``, or the one the export carries).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from facegate.config import load_settings
from facegate.errors import FacegateError

COMMANDS = ("audit", "retention", "erase", "report")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, help="data directory (default FACEGATE_DATA_DIR)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--by", default=None, help="who acts, for the record (default cli:<login>)")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    audit = sub.add_parser("audit", help="the tamper-evident audit log").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = audit.add_parser("verify", help="recompute the chain and signatures; name any break")
    p.add_argument("--export", metavar="FILE", help="verify an export instead of the database")
    p.add_argument("--public-key", metavar="PEM", help="the server's public key (PEM file)")
    _common(p)
    p = audit.add_parser("export", help="write records and checkpoints as JSON Lines")
    p.add_argument("--since", default=None, help="ISO date-time (inclusive)")
    p.add_argument("--until", default=None, help="ISO date-time (exclusive)")
    p.add_argument("--org", default=None, help="only this organization's records (partial)")
    p.add_argument("--output", required=True, metavar="FILE")
    _common(p)
    p = audit.add_parser("public-key", help="print the checkpoint signing public key (PEM)")
    _common(p)
    p = audit.add_parser("checkpoint", help="sign the head now")
    _common(p)

    retention = sub.add_parser("retention", help="RETENTION purges").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = retention.add_parser("run", help="purge every face past its deletion deadline")
    p.add_argument("--at", default=None, help="purge as of this ISO date-time (default now)")
    _common(p)

    p = sub.add_parser("erase", help="ERASURE: remove a subject's faces, with a receipt")
    p.add_argument("--org", required=True)
    p.add_argument("--subject", required=True, help="the ExternalImageId or UserId")
    _common(p)
    p.set_defaults(action="erase")

    report = sub.add_parser("report", help="transparency and accountability reports")
    actions = report.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("transparency", help="aggregates for the public: HTML, JSON, CSV")
    p.add_argument("--from", dest="start", required=True, help="ISO date (inclusive)")
    p.add_argument("--to", dest="end", required=True, help="ISO date (exclusive)")
    p.add_argument("--output-dir", required=True)
    _common(p)
    p = actions.add_parser("accountability", help="the WA SB 6280 accountability report")
    p.add_argument("--usecase", type=int, required=True, help="use case id")
    p.add_argument("--output-dir", required=True)
    _common(p)


def _print(result: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, default=str))
    elif isinstance(result, str):
        print(result, end="" if result.endswith("\n") else "\n")
    else:
        for key, value in result.items():
            shown = json.dumps(value, default=str) if isinstance(value, (dict, list)) else value
            print(f"{key} = {shown}")


def run_accountability(args: argparse.Namespace) -> int:
    from facegate.actions.administration import parse_instant
    from facegate.audit.verify import verify_export

    try:
        if args.command == "audit" and args.action == "verify" and args.export:
            pem = Path(args.public_key).read_text() if args.public_key else None
            report = verify_export(Path(args.export), pem)
            _print(report.to_dict(), args.json)
            if not report.ok:
                print(f"facegate audit verify: {report.findings[0].message}", file=sys.stderr)
            return 0 if report.ok else 4
        from facegate.service import open_services

        settings = load_settings(data_dir=Path(args.data_dir) if args.data_dir else None)
        services = open_services(settings)
        actor = args.by or f"cli:{getpass.getuser()}"
        result = _dispatch(args, services, actor, parse_instant)
    except FacegateError as exc:
        print(f"facegate {args.command} {args.action}: {exc.message}", file=sys.stderr)
        return 3
    except (OSError, ValueError) as exc:
        print(f"facegate {args.command} {args.action}: {exc}", file=sys.stderr)
        return 3
    if isinstance(result, tuple):  # (result, exit code)
        result, code = result
    else:
        code = 0
    _print(result, args.json)
    return code


def _dispatch(args, services, actor, parse_instant) -> Any:
    signer = services.audit.signer
    if args.command == "audit":
        if args.action == "verify":
            from facegate.audit.verify import verify_database

            report = verify_database(services.audit.sessions, signer.public_pem)
            if not report.ok:
                print(f"facegate audit verify: {report.findings[0].message}", file=sys.stderr)
            return report.to_dict(), 0 if report.ok else 4
        if args.action == "export":
            from facegate.audit.export import export_file

            return export_file(
                services.audit.sessions,
                signer,
                Path(args.output),
                since=parse_instant(args.since, "--since") if args.since else None,
                until=parse_instant(args.until, "--until") if args.until else None,
                organization=args.org,
            )
        if args.action == "public-key":
            return (
                signer.public_pem
                if not args.json
                else {
                    "key_id": signer.key_id,
                    "public_key": signer.public_pem,
                }
            )
        return services.audit.checkpoint() or {"checkpoint": "nothing new to sign"}
    if args.command == "retention":
        from facegate.actions.maintenance import purge_retention

        at = parse_instant(args.at, "--at") if args.at else None
        receipts = purge_retention(services, now=at, requested_by=actor)
        return {
            "receipts": len(receipts),
            "faces_deleted": sum(r["faces_deleted"] for r in receipts),
            "receipt_ids": [r["receipt_id"] for r in receipts],
        }
    if args.command == "erase":
        from facegate.actions.maintenance import erase

        return erase(services, args.org, args.subject, requested_by=actor)
    from facegate.reports.accountability import accountability
    from facegate.reports.transparency import transparency

    out = Path(args.output_dir)
    if args.action == "transparency":
        return transparency(
            services,
            parse_instant(args.start, "--from"),
            parse_instant(args.end, "--to"),
            out,
        )
    return accountability(services, args.usecase, out)
