"""A real facegate server process for tests: started on a free port, stopped afterwards."""

from __future__ import annotations

import configparser
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
from botocore.config import Config
from sqlalchemy import create_engine, text

BASIS = {"X-Facegate-Basis": "consent:test-fixture", "X-Facegate-Provenance": "tests/data"}


def add_headers(client, headers: dict[str, str]) -> None:
    """Send ``headers`` with every request of a boto3 client (signed with the rest)."""

    def before_sign(request, **_):
        for name, value in headers.items():
            del request.headers[name]  # a retried request is signed again: never twice
            request.headers[name] = value

    client.meta.events.register("before-sign.rekognition.*", before_sign)


def run_cli(
    data_dir: Path, *args: str, check: bool = True, **env: str
) -> subprocess.CompletedProcess:
    """Run ``facegate ARGS`` with FACEGATE_DATA_DIR=data_dir (and ``env``)."""
    environ = {**os.environ, "FACEGATE_DATA_DIR": str(data_dir), **env}
    done = subprocess.run(
        [sys.executable, "-m", "facegate.cli.main", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, data_dir: Path, port: int | None = None, **env: str):
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "server.log"
        self.start()

    def start(self) -> None:
        environ = {**os.environ, "FACEGATE_DATA_DIR": str(self.data_dir), **self.env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "facegate.cli.main", "serve", "--port", str(self.port)],
            env=environ,
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as in a crash."""
        self.process.kill()
        self.process.wait()

    @property
    def database_url(self) -> str:
        """The database this server runs on (its data directory's SQLite file by default)."""
        return (
            self.env.get("FACEGATE_DATABASE_URL")
            or os.environ.get("FACEGATE_DATABASE_URL")
            or f"sqlite:///{self.data_dir}/facegate.db"
        )

    def query(self, sql: str, **params: object) -> list:
        """The rows of ``sql``, read straight from the server's database (what it stored)."""
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as db:
                return list(db.execute(text(sql), params))
        finally:
            engine.dispose()

    def operator_keys(self) -> tuple[str, str]:
        """The key the first start wrote to <data dir>/credentials."""
        parser = configparser.ConfigParser()
        parser.read(self.data_dir / "credentials")
        return (
            parser["facegate"]["aws_access_key_id"],
            parser["facegate"]["aws_secret_access_key"],
        )

    def client(
        self,
        keys: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
        **config: object,
    ):
        """A real boto3 Rekognition client for this server (the operator's key by default).

        ``headers`` (X-Facegate-Case, -Basis, ...) are added to every request the way the
        documentation tells boto3 users to: a ``before-sign`` event handler.
        """
        client = self._client(keys, **config)
        if headers:
            add_headers(client, headers)
        return client

    def _client(self, keys: tuple[str, str] | None = None, **config: object):
        key_id, secret = keys or self.operator_keys()
        return boto3.client(
            "rekognition",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(
                retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=300, **config
            ),
        )

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``facegate ARGS`` on this server's data directory."""
        return run_cli(self.data_dir, *args, check=check, **self.env)

    def admin(self, method: str, path: str, body: dict | None = None, keys=None) -> httpx.Response:
        """Call the admin REST API (``/v1/admin``) with the operator's key."""
        key_id, secret = keys or self.operator_keys()
        return httpx.request(
            method,
            f"{self.url}/v1/admin{path}",
            json=body,
            headers={"X-Api-Key": f"{key_id}:{secret}"},
            timeout=60,
        )

    def ok(self, method: str, path: str, body: dict | None = None) -> dict:
        response = self.admin(method, path, body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def organization(self, name: str, sector: str = "commercial") -> None:
        """Create an organization unless it exists."""
        response = self.admin("POST", "/organizations", {"name": name, "sector": sector})
        assert response.status_code in (201, 409), response.text

    def use_case(
        self,
        org: str,
        purpose: str = "photo_organization",
        operations: tuple[str, ...] = ("verify", "identify", "enroll", "manage", "detect"),
        approve: bool = True,
        **fields: object,
    ) -> int:
        """Register (and approve) a use case; its id."""
        use_case = self.ok(
            "POST",
            "/use-cases",
            {
                "organization": org,
                "purpose": purpose,
                "description": f"tests: {purpose}",
                "legal_basis": "test fixture",
                "operations": list(operations),
                "expires": "2099-01-01",
                **fields,
            },
        )
        if approve:
            self.ok(
                "POST",
                f"/use-cases/{use_case['id']}/decision",
                {"decision": "approve", "reason": "tests"},
            )
        return use_case["id"]

    def key(self, org: str, use_case: int | None, member: str | None = None) -> tuple[str, str]:
        issued = self.ok(
            "POST", "/keys", {"organization": org, "use_case_id": use_case, "member": member}
        )
        return issued["aws_access_key_id"], issued["aws_secret_access_key"]

    def exemption(self, org: str, purpose: str = "missing_persons") -> None:
        """A vetted moratorium exemption of ``org`` for ``purpose`` (the operator grants it)."""
        self.ok(
            "POST",
            "/exemptions",
            {"organization": org, "purpose": purpose, "reason": "vetted", "expires": "2099-01-01"},
        )

    def member(self, org: str, name: str, *roles: str) -> None:
        self.ok("POST", f"/organizations/{org}/members", {"name": name, "roles": list(roles)})

    def analyst_keys(self) -> tuple[str, str]:
        """One key of an approved photo-organization use case, made once per server."""
        if not hasattr(self, "_analyst_keys"):
            self._analyst_keys = self.governed_keys("tests-org")
        return self._analyst_keys

    def governed_keys(
        self, org: str, sector: str = "commercial", purpose: str = "photo_organization", **fields
    ) -> tuple[str, str]:
        """A key of ``org`` for a newly approved use case with ``purpose``."""
        self.organization(org, sector)
        return self.key(org, self.use_case(org, purpose, **fields))

    def _wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
