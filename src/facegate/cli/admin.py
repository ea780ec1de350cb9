"""``facegate admin``: organizations and access keys, on the server's data directory."""

from __future__ import annotations

import argparse
import json
import sys

from facegate.config import load_settings
from facegate.errors import FacegateError
from facegate.service import open_services


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("admin", help="organizations and access keys")
    p.add_argument("--data-dir", default=None, help="data directory (default FACEGATE_DATA_DIR)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    what = p.add_subparsers(dest="admin_command", required=True, metavar="WHAT")
    org = what.add_parser("org", help="organizations").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = org.add_parser("create", help="create an organization")
    create.add_argument("name")
    org.add_parser("list", help="list organizations")
    key = what.add_parser("key", help="access keys").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    issue = key.add_parser("create", help="issue a key (the secret is shown once)")
    issue.add_argument("--org", required=True, help="organization name")
    issue.add_argument("--description", default="")
    listing = key.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--org", default=None)
    revoke = key.add_parser("revoke", help="revoke a key; requests signed with it are refused")
    revoke.add_argument("access_key_id")


def run_admin(args: argparse.Namespace) -> int:
    from pathlib import Path

    settings = load_settings(data_dir=Path(args.data_dir) if args.data_dir else None)
    services = open_services(settings)
    accounts = services.accounts
    try:
        if args.admin_command == "org" and args.action == "create":
            accounts.create_organization(args.name)
            result: object = {"organization": args.name}
        elif args.admin_command == "org":
            result = accounts.organizations()
        elif args.action == "create":
            key = accounts.issue_key(args.org, args.description)
            result = {
                "organization": key.organization,
                "aws_access_key_id": key.access_key_id,
                "aws_secret_access_key": key.secret_access_key,
            }
        elif args.action == "list":
            result = accounts.keys(args.org)
        else:
            accounts.revoke_key(args.access_key_id)
            result = {"revoked": args.access_key_id}
    except FacegateError as exc:
        print(f"facegate admin: {exc.message}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(result))
    elif isinstance(result, list):
        for row in result:
            print("  ".join(f"{k}={v}" for k, v in row.items()))
    else:
        for k, v in result.items():  # type: ignore[union-attr]
            print(f"{k} = {v}")
        if "aws_secret_access_key" in result:  # type: ignore[operator]
            print("The secret is shown only this once; facegate stores it encrypted.")
    return 0
