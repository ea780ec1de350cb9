"""A real facegate server process for tests: started on a free port, stopped afterwards."""

from __future__ import annotations

import configparser
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
from botocore.config import Config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, data_dir: Path, port: int | None = None, **env: str):
        self.data_dir = data_dir
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

    def operator_keys(self) -> tuple[str, str]:
        """The key the first start wrote to <data dir>/credentials."""
        parser = configparser.ConfigParser()
        parser.read(self.data_dir / "credentials")
        return (
            parser["facegate"]["aws_access_key_id"],
            parser["facegate"]["aws_secret_access_key"],
        )

    def client(self, keys: tuple[str, str] | None = None, **config: object):
        """A real boto3 Rekognition client for this server (the operator's key by default)."""
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

    def admin(self, *args: str) -> dict:
        """Run ``facegate admin --json ...`` on this server's data directory."""
        environ = {**os.environ, "FACEGATE_DATA_DIR": str(self.data_dir), **self.env}
        done = subprocess.run(
            [sys.executable, "-m", "facegate.cli.main", "admin", "--json", *args],
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

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
