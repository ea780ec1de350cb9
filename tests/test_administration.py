"""The operator's administration and the decide-run-record skeleton, in process: the real
services (``open_services``) on SQLite and PostgreSQL, no server. Every action leaves one
record naming what changed, never a secret; a failed action changes nothing and its record
says why; a refused Administer is recorded once; an unexpected failure is an error record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from facegate.actions.acting import guarded
from facegate.actions.administration import Administration, authorized
from facegate.audit.verify import verify_database
from facegate.config import load_settings
from facegate.errors import AccessDeniedException, ResourceNotFoundException
from facegate.policy.point import Resource
from facegate.service import Services, bootstrap, open_services


@pytest.fixture(params=["sqlite", "postgresql"])
def services(request, tmp_path: Path):
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_databases")()
    opened = open_services(load_settings(data_dir=tmp_path / "data", database_url=url))
    bootstrap(opened, "http://127.0.0.1:0")
    yield opened
    opened.close()
    opened.gallery.sessions.kw["bind"].dispose()


def admin_records(services: Services) -> list[dict]:
    return [r for r in services.audit.records(limit=500) if r["operation"].startswith("Admin.")]


def test_each_action_leaves_one_record_with_what_changed_and_no_secret(services):
    admin = Administration(services, "cli:tester")
    admin.create_organization("harbour-search", "nonprofit")
    admin.add_member("harbour-search", "ana", ["analyst"])
    use_case = admin.register_use_case(
        "harbour-search",
        purpose="missing_persons",
        description="finding missing children",
        legal_basis="guardian consent",
        operations=["identify", "enroll"],
        expires=datetime.now(UTC) + timedelta(days=90),
    )
    admin.decide_use_case(use_case["id"], "approve", "vetted")
    key = admin.issue_key("harbour-search", use_case_id=use_case["id"], member=None)
    records = admin_records(services)
    assert [r["operation"] for r in reversed(records)] == [
        "Admin.CreateOrganization",
        "Admin.AddMember",
        "Admin.RegisterUseCase",
        "Admin.ApproveUseCase",
        "Admin.IssueKey",
    ]
    assert all(r["decision"] == "allow" and r["member"] == "cli:tester" for r in records)
    assert records[-1]["detail"] == {"organization": "harbour-search", "sector": "nonprofit"}
    assert records[0]["detail"]["use_case"] == use_case["id"]
    secret = key["aws_secret_access_key"]
    assert secret and all(secret not in str(r) for r in services.audit.records(limit=500))
    assert services.registry.members("harbour-search") == [
        {"organization": "harbour-search", "member": "ana", "roles": ["analyst"]}
    ]
    report = verify_database(services.audit.sessions, services.audit.signer.public_pem)
    assert report.ok, report


def test_a_failed_action_changes_nothing_and_its_record_says_why(services):
    admin = Administration(services, "cli:tester")
    with pytest.raises(ResourceNotFoundException):
        admin.add_member("no-such-organization", "ana", ["analyst"])
    (failed,) = admin_records(services)
    assert failed["operation"] == "Admin.AddMember"
    assert failed["decision"] == "error"
    assert failed["error_type"] == "ResourceNotFoundException"
    assert "no-such-organization" in failed["reasons"]


def test_administer_is_refused_to_an_organization_and_recorded_once(services):
    admin = Administration(services, "cli:tester")
    admin.create_organization("newsroom", "commercial")
    admin.add_member("newsroom", "editor", ["admin"])
    archive = admin.register_use_case(
        "newsroom",
        purpose="media_archive",
        description="the photo archive",
        legal_basis="legitimate interest",
        operations=["identify"],
        expires=datetime.now(UTC) + timedelta(days=30),
    )
    admin.decide_use_case(archive["id"], "approve", "ok")
    key = admin.issue_key("newsroom", use_case_id=archive["id"], member="editor")
    caller = services.registry.principal(key["aws_access_key_id"])
    before = len(services.audit.records(limit=500))
    with pytest.raises(AccessDeniedException):
        authorized(services, caller, "editor", resource="admin/organizations")
    records = services.audit.records(limit=500)
    assert len(records) == before + 1
    refused = records[0]
    assert (refused["operation"], refused["decision"]) == ("Administer", "deny")
    assert refused["organization"] == "newsroom" and refused["resource"] == "admin/organizations"
    assert refused["policies"] and refused["error_type"] == "AccessDeniedException"
    operator_key = services.accounts.keys("operator")[0]["access_key_id"]
    operator = services.registry.principal(operator_key)
    allowed = authorized(services, operator, "operator")
    assert isinstance(allowed, Administration)
    assert len(services.audit.records(limit=500)) == before + 1  # the check itself: no record


def test_an_unexpected_failure_inside_a_guarded_action_is_an_error_record(services):
    operator_key = services.accounts.keys("operator")[0]["access_key_id"]
    operator = services.registry.principal(operator_key)
    target = Resource("Account", "account", operator.organization_id, operator.organization)

    def broken(_recorder):
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        guarded(services, operator, "ListReviews", target, broken, resource="reviews")
    (record,) = services.audit.records(limit=1)
    assert record["operation"] == "ListReviews"
    assert (record["decision"], record["error_type"]) == ("error", "InternalServerError")
    assert record["reasons"] == "ZeroDivisionError"

    def listing(recorder):
        recorder.entry.result_count = 0
        return []

    assert guarded(services, operator, "ListReviews", target, listing, resource="reviews") == []
    (record,) = services.audit.records(limit=1)
    assert (record["decision"], record["result_count"]) == ("allow", 0)
