"""ClientRequestToken: a repeated request with the same token gets the first answer.

The same token with different parameters is ``IdempotentParameterMismatchException``.
Tokens are kept per organization and operation.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from facegate.errors import IdempotentParameterMismatchException
from facegate.gallery.tables import IdempotentRequest


class Idempotency:
    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions

    def recall(self, org: int, operation: str, token: str, digest: str) -> dict[str, Any] | None:
        with self.sessions() as s:
            row = s.get(IdempotentRequest, (org, operation, token))
            if row is None:
                return None
            if row.request_sha256 != digest:
                raise IdempotentParameterMismatchException(
                    f"ClientRequestToken {token} was used before with other parameters; use a "
                    "new token for a different request."
                )
            return json.loads(row.response)

    def remember(
        self, org: int, operation: str, token: str, digest: str, response: dict[str, Any]
    ) -> None:
        try:
            with self.sessions.begin() as s:
                s.add(
                    IdempotentRequest(
                        organization_id=org,
                        operation=operation,
                        token=token,
                        request_sha256=digest,
                        response=json.dumps(response),
                        created_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            pass  # a concurrent twin stored it first; the answers are the same
