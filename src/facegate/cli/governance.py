"""``facegate org|member|usecase|exemption|key|review|policy``: governance on the server's data.

These run on the machine that holds the data directory (or reaches the configured database),
as the operator. Every change is recorded with the acting user (``--by``, default
``cli:<login>``). The same actions are in the admin REST API (``/v1/admin``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import secrets
import sys
from pathlib import Path
from typing import Any

from facegate.config import load_settings
from facegate.errors import FacegateError
from facegate.gallery.tables import SECTORS
from facegate.policy.point import Inputs
from facegate.policy.registry import OPERATION_CLASSES, Principal
from facegate.policy.tables import EXEMPT_PURPOSES, ROLES

COMMANDS = ("org", "member", "user", "usecase", "exemption", "key", "review", "policy")


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, help="data directory (default FACEGATE_DATA_DIR)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--by", default=None, help="who acts, for the record (default cli:<login>)")


def _actions(sub: argparse._SubParsersAction, name: str, help_text: str):
    p = sub.add_parser(name, help=help_text)
    return p.add_subparsers(dest="action", required=True, metavar="ACTION")


def _leaf(actions: argparse._SubParsersAction, name: str, help: str) -> argparse.ArgumentParser:
    p = actions.add_parser(name, help=help)
    _common(p)
    return p


def add_parsers(sub: argparse._SubParsersAction) -> None:
    org = _actions(sub, "org", "organizations and their sectors")
    p = _leaf(org, "create", help="create an organization")
    p.add_argument("name")
    p.add_argument("--sector", required=True, choices=SECTORS)
    _leaf(org, "list", help="list organizations")
    p = _leaf(org, "set-sector", help="change an organization's sector (recorded)")
    p.add_argument("name")
    p.add_argument("sector", choices=SECTORS)

    member = _actions(sub, "member", "people of an organization and their roles")
    p = _leaf(member, "add", help="add a person with roles")
    p.add_argument("name")
    p.add_argument("--org", required=True)
    p.add_argument("--roles", required=True, help=f"comma-separated: {', '.join(ROLES)}")
    p = _leaf(member, "list", help="list an organization's people")
    p.add_argument("--org", required=True)

    user = _actions(sub, "user", "console sign-ins of members (the web console)")
    p = _leaf(user, "create", help="let a member sign in to the console")
    p.add_argument("username")
    p.add_argument("--org", required=True)
    p.add_argument("--member", required=True, help="the member (facegate member add) it acts as")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (default: generate one and print it once)",
    )
    p = _leaf(user, "set-password", help="set a new password (ends the user's sessions)")
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true")
    p = _leaf(user, "list", help="console users")
    p.add_argument("--org", default=None)

    usecase = _actions(sub, "usecase", "use-case registrations (LIMITED-ACCESS)")
    p = _leaf(usecase, "register", help="register a use case (pending until approved)")
    p.add_argument("--org", required=True)
    p.add_argument("--purpose", required=True)
    p.add_argument("--description", required=True)
    p.add_argument("--legal-basis", required=True)
    p.add_argument(
        "--operations", required=True, help=f"comma-separated: {', '.join(OPERATION_CLASSES)}"
    )
    p.add_argument("--expires", required=True, help="ISO date, e.g. 2027-06-30")
    p.add_argument("--human-review", action="store_true", help="hold candidates for review")
    p.add_argument("--quorum", type=int, default=1, choices=(1, 2), help="reviewers who agree")
    p.add_argument("--searches-per-hour", type=int, default=None)
    p.add_argument("--searches-per-day", type=int, default=None)
    p.add_argument("--max-faces", type=int, default=None, help="largest MaxFaces per search")
    p.add_argument("--video-hours-per-day", type=float, default=None)
    p.add_argument("--realtime", action="store_true", help="enable live-stream identification")
    p.add_argument(
        "--retention-years",
        type=float,
        default=3.0,
        help="faces are deleted this long after their last interaction (default 3)",
    )
    for verb in ("approve", "reject", "revoke"):
        p = _leaf(usecase, verb, help=f"{verb} a registration (the reason is recorded)")
        p.add_argument("id", type=int)
        p.add_argument("--reason", required=True)
    p = _leaf(usecase, "list", help="list registrations")
    p.add_argument("--org", default=None)

    exemption = _actions(sub, "exemption", "vetted exemptions from the moratorium")
    p = _leaf(exemption, "grant", help="grant an organization an exemption")
    p.add_argument("--org", required=True)
    p.add_argument("--purpose", required=True, choices=EXEMPT_PURPOSES)
    p.add_argument("--reason", required=True)
    p.add_argument("--expires", required=True, help="ISO date")
    p = _leaf(exemption, "revoke", help="revoke an exemption")
    p.add_argument("id", type=int)
    p.add_argument("--reason", required=True)
    p = _leaf(exemption, "list", help="list exemptions")
    p.add_argument("--org", default=None)

    key = _actions(sub, "key", "access keys (each for one approved use case)")
    p = _leaf(key, "create", help="issue a key (the secret is shown once)")
    p.add_argument("--org", required=True)
    p.add_argument("--use-case", type=int, default=None, help="approved use case id")
    p.add_argument("--member", default=None, help="the person holding it (their roles apply)")
    p.add_argument("--description", default="")
    p = _leaf(key, "list", help="list keys (never their secrets)")
    p.add_argument("--org", default=None)
    p = _leaf(key, "revoke", help="revoke a key; requests signed with it are refused")
    p.add_argument("access_key_id")

    review = _actions(sub, "review", "human review of held-back candidates")
    for verb, text in (
        ("list", "open reviews (reviewer) or own searches"),
        ("show", "a review's probe and candidates"),
        ("confirm", "confirm candidates"),
        ("reject", "reject all candidates"),
        ("result", "the requester's view: status and, once confirmed, the lead"),
    ):
        p = _leaf(review, verb, help=text)
        if verb != "list":
            p.add_argument("id")
        p.add_argument("--as-key", required=True, help="the access key id of who acts")
        if verb == "confirm":
            p.add_argument("--candidates", required=True, help="comma-separated candidate ids")
        if verb in ("confirm", "reject"):
            p.add_argument("--note", required=True)

    policy = _actions(sub, "policy", "the Cedar policy set")
    p = _leaf(policy, "validate", help="check a directory of operator policies")
    p.add_argument("directory", nargs="?", default=None)
    _leaf(policy, "list", help="the policies in force, with the set's version")
    p = _leaf(policy, "explain", help="which rules allow or deny a request (nothing runs)")
    p.add_argument("--operation", required=True, help="e.g. SearchFacesByImage")
    p.add_argument("--key", default=None, help="a real key's id (else describe a principal)")
    p.add_argument("--sector", choices=SECTORS, default="commercial")
    p.add_argument("--purpose", default="")
    p.add_argument("--status", default="approved", help="use-case status (default approved)")
    p.add_argument("--operations", default="", help="operation classes of the use case")
    p.add_argument("--exemptions", default="", help="purposes of active exemptions")
    p.add_argument("--roles", default="analyst")
    p.add_argument("--human-review", action="store_true")
    p.add_argument("--max-faces-cap", type=int, default=None)
    p.add_argument("--case", default="")
    p.add_argument("--warrant", default="")
    p.add_argument("--basis", default="")
    p.add_argument("--provenance", default="")
    p.add_argument("--threshold", type=float, default=None)
    p.add_argument("--max-results", type=int, default=0)
    p.add_argument("--attributes", default="", help="comma-separated face attributes asked for")
    p.add_argument("--at", default=None, help="ISO date-time to decide at (default now)")


def _print(result: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, default=str))
    elif isinstance(result, list):
        for row in result:
            print("  ".join(f"{k}={v}" for k, v in row.items()))
    else:
        for k, v in result.items():
            print(f"{k} = {v if not isinstance(v, (dict, list)) else json.dumps(v, default=str)}")
        if "aws_secret_access_key" in result:
            print("The secret is shown only this once; facegate stores it encrypted.")


def _validate_only(directory: str | None, data_dir: str | None) -> dict[str, Any]:
    from facegate.policy.engine import load_policy_set

    settings = load_settings(data_dir=Path(data_dir) if data_dir else None)

    folder = Path(directory) if directory else settings.policy_dir
    policies = load_policy_set(folder, settings.governance.fingerprint())
    return {
        "valid": True,
        "directory": str(folder),
        "version": policies.version,
        "policies": len(policies.policies),
        "operator_policies": sum(not p.shipped for p in policies.policies),
    }


def run_governance(args: argparse.Namespace) -> int:
    from facegate.policy.engine import PolicyError

    if args.command == "policy" and args.action == "validate":
        try:
            _print(_validate_only(args.directory, args.data_dir), args.json)
        except PolicyError as exc:
            print(f"facegate policy validate: invalid. {exc}", file=sys.stderr)
            return 3
        return 0
    from facegate.actions.administration import Administration, parse_instant
    from facegate.service import open_services

    settings = load_settings(data_dir=Path(args.data_dir) if args.data_dir else None)
    services = open_services(settings)
    admin = Administration(services, args.by or f"cli:{getpass.getuser()}")
    try:
        result = _dispatch(args, admin, services, parse_instant)
    except FacegateError as exc:
        print(f"facegate {args.command} {args.action}: {exc.message}", file=sys.stderr)
        return 3
    _print(result, args.json)
    return 0


def _dispatch(args, admin, services, parse_instant) -> Any:
    c, a = args.command, args.action
    if c == "org":
        if a == "create":
            return admin.create_organization(args.name, args.sector)
        if a == "set-sector":
            return admin.set_sector(args.name, args.sector)
        return admin.organizations()
    if c == "member":
        if a == "add":
            return admin.add_member(args.org, args.name, _csv(args.roles))
        return admin.members(args.org)
    if c == "user":
        if a == "list":
            return admin.console_users(args.org)
        generated = not args.password_stdin
        password = secrets.token_urlsafe(15) if generated else sys.stdin.readline().rstrip("\n")
        if a == "create":
            out = admin.create_console_user(args.org, args.member, args.username, password)
        else:
            out = admin.set_console_password(args.username, password)
        return {**out, "password": password} if generated else out
    if c == "usecase":
        if a == "register":
            return admin.register_use_case(
                args.org,
                purpose=args.purpose,
                description=args.description,
                legal_basis=args.legal_basis,
                operations=_csv(args.operations),
                expires=parse_instant(args.expires, "--expires"),
                human_review=args.human_review,
                review_quorum=args.quorum,
                searches_per_hour=args.searches_per_hour,
                searches_per_day=args.searches_per_day,
                max_faces=args.max_faces,
                video_hours_per_day=args.video_hours_per_day,
                realtime=args.realtime,
                retention_years=args.retention_years,
            )
        if a in ("approve", "reject", "revoke"):
            return admin.decide_use_case(args.id, a, args.reason)
        return admin.use_cases(args.org)
    if c == "exemption":
        if a == "grant":
            expires = parse_instant(args.expires, "--expires")
            return admin.grant_exemption(args.org, args.purpose, args.reason, expires)
        if a == "revoke":
            return admin.revoke_exemption(args.id, args.reason)
        return admin.exemptions(args.org)
    if c == "key":
        if a == "create":
            return admin.issue_key(
                args.org,
                use_case_id=args.use_case,
                member=args.member,
                description=args.description,
            )
        if a == "revoke":
            return admin.revoke_key(args.access_key_id)
        return admin.keys(args.org)
    if c == "review":
        from facegate.actions.reviewing import review_action

        principal = services.registry.principal(args.as_key)
        return review_action(
            services,
            principal,
            a,
            getattr(args, "id", None),
            candidates=_csv(getattr(args, "candidates", "") or ""),
            note=getattr(args, "note", ""),
        )
    if c == "policy" and a == "list":
        return admin.policies()
    # policy explain
    if args.key:
        principal = services.registry.principal(args.key)
    else:
        caps = {"max_faces": args.max_faces_cap} if args.max_faces_cap is not None else {}
        principal = Principal.described(
            sector=args.sector,
            purpose=args.purpose,
            use_case_status=args.status,
            operations=_csv(args.operations),
            exemptions=_csv(args.exemptions),
            roles=_csv(args.roles),
            human_review=args.human_review,
            caps=caps,
        )
    return admin.explain(
        principal,
        args.operation,
        inputs=Inputs(args.case, args.warrant, args.basis, args.provenance),
        threshold=args.threshold,
        max_results=args.max_results,
        attributes=tuple(_csv(args.attributes)),
        at=parse_instant(args.at, "--at") if args.at else None,
    )
