"""HUMAN-REVIEW: candidate lists held back until a reviewer confirms or rejects them.

A search that needs review stores its full answer, sealed with the master key, and returns no
candidates, only the review's id. A reviewer of the same organization who is not the
requester sees the probe and the candidates' face crops side by side, and confirms specific
candidates or rejects them all, with a note; where the use case says so, two reviewers must
agree. Then the requester can fetch the confirmed candidates, labelled as an investigative
lead. Reviews nobody decides expire. What a review holds is deleted ``retention`` after it
closes; candidates' crops go with their faces.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, Update, select, update
from sqlalchemy.orm import Session, sessionmaker

from facegate.audit.log import Record
from facegate.auth.secrets import SecretBox
from facegate.db import aware, utcnow
from facegate.errors import ConflictException, InvalidParameterException, ResourceNotFoundException
from facegate.gallery.tables import Collection, Face, FaceCrop, User
from facegate.policy.registry import Principal
from facegate.policy.tables import Review, ReviewDecision

LEAD_LABEL = "INVESTIGATIVE_LEAD"
LEAD_NOTICE = (
    "Investigative lead, not an identification: a reviewer confirmed these candidates as "
    "possible matches. Corroborate them independently before acting on them."
)
MAX_NOTE = 2000


def _match_ids(result: dict[str, Any]) -> list[str]:
    """The candidate ids of a search answer: face ids, or user ids for user searches."""
    if "UserMatches" in result:
        return [m["User"]["UserId"] for m in result["UserMatches"]]
    return [m["Face"]["FaceId"] for m in result.get("FaceMatches", [])]


def withheld(result: dict[str, Any]) -> dict[str, Any]:
    """The answer the requester gets while review is pending: the same shape, no candidates."""
    out = dict(result)
    if "UserMatches" in out:
        out["UserMatches"] = []
    if "FaceMatches" in out:
        out["FaceMatches"] = []
    return out


def _released(result: dict[str, Any], confirmed: list[str]) -> dict[str, Any]:
    keep = set(confirmed)
    out = dict(result)
    if "UserMatches" in out:
        out["UserMatches"] = [m for m in out["UserMatches"] if m["User"]["UserId"] in keep]
    if "FaceMatches" in out:
        out["FaceMatches"] = [m for m in out["FaceMatches"] if m["Face"]["FaceId"] in keep]
    if "Persons" in out:  # a video search: where the person is seen, with the kept matches
        out["Persons"] = [
            {**p, "FaceMatches": [m for m in p["FaceMatches"] if m["Face"]["FaceId"] in keep]}
            for p in out["Persons"]
        ]
    return out


class Reviews:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        box: SecretBox,
        *,
        ttl: timedelta = timedelta(hours=72),
        retention: timedelta = timedelta(days=30),
        clock: Callable[[], datetime] = utcnow,
    ):
        self.sessions = sessions
        self.box = box
        self.ttl = ttl
        self.retention = retention
        self.clock = clock

    # --- opening ---------------------------------------------------------------------------

    def open(
        self,
        principal: Principal,
        *,
        operation: str,
        collection: str,
        case_reference: str,
        requested_threshold: float,
        effective_threshold: float,
        result: dict[str, Any],
        probe_crop: bytes | None,
        session: Session | None = None,
    ) -> str:
        now = self.clock()
        review = Review(
            id=str(uuid.uuid4()),
            organization_id=principal.organization_id,
            use_case_id=principal.use_case_id,
            requester=principal.holder,
            requester_key=principal.access_key_id,
            operation=operation,
            collection=collection,
            case_reference=case_reference,
            requested_threshold=requested_threshold,
            effective_threshold=effective_threshold,
            quorum=principal.review_quorum,
            candidate_count=len(_match_ids(result)),
            status="open",
            created_at=now,
            expires_at=now + self.ttl,
            sealed_result=self.box.seal_bytes(json.dumps(result).encode()),
            sealed_probe=self.box.seal_bytes(probe_crop) if probe_crop else None,
        )
        if session is not None:  # in the search's transaction, with its record
            session.add(review)
            return review.id
        with self.sessions.begin() as s:
            s.add(review)
        return review.id

    # --- reading ---------------------------------------------------------------------------

    def _get(self, s: Session, principal: Principal, review_id: str) -> Review:
        review = s.get(Review, review_id)
        if review is None or review.organization_id != principal.organization_id:
            raise ResourceNotFoundException(f"No review {review_id}.")
        return review

    def owner(self, review_id: str) -> tuple[int, str] | None:
        """(organization id, requester) of a review, for the policy point; None if unknown."""
        with self.sessions() as s:
            review = s.get(Review, review_id)
            return None if review is None else (review.organization_id, review.requester)

    def sealed_person(self, review_id: str) -> dict[str, Any] | None:
        """The person a video search's review is about (``Person`` of its sealed answer:
        ``From``/``To`` in milliseconds), or None. Only for a reader the decision point has
        let see the review."""
        with self.sessions() as s:
            review = s.get(Review, review_id)
            if review is None or review.sealed_result is None:
                return None
            return json.loads(self.box.open_bytes(review.sealed_result)).get("Person")

    def _summary(self, review: Review, decisions: int) -> dict[str, Any]:
        return {
            "ReviewId": review.id,
            "Status": self._status(review),
            "Operation": review.operation,
            "CollectionId": review.collection,
            "CaseReference": review.case_reference,
            "RequestedThreshold": review.requested_threshold,
            "EffectiveThreshold": review.effective_threshold,
            "CandidateCount": review.candidate_count,
            "Quorum": review.quorum,
            "Decisions": decisions,
            "CreatedAt": aware(review.created_at).isoformat(),
            "Deadline": aware(review.expires_at).isoformat(),
            "ClosedAt": aware(review.closed_at).isoformat() if review.closed_at else None,
        }

    def _status(self, review: Review) -> str:
        if review.status == "open" and aware(review.expires_at) <= self.clock():
            return "expired"
        return review.status

    def _decisions(self, s: Session, review_id: str) -> list[ReviewDecision]:
        return list(
            s.scalars(
                select(ReviewDecision)
                .where(ReviewDecision.review_id == review_id)
                .order_by(ReviewDecision.id)
            )
        )

    def listing(self, principal: Principal) -> list[dict[str, Any]]:
        """Reviewers: the open reviews of their organization that are not their own, oldest
        first. Everyone else: the reviews of their own searches, newest first."""
        with self.sessions() as s:
            query = select(Review).where(Review.organization_id == principal.organization_id)
            if "reviewer" in principal.roles:  # past the deadline: expired, even before a sweep
                query = query.where(
                    Review.status == "open",
                    Review.expires_at > self.clock(),
                    Review.requester != principal.holder,
                ).order_by(Review.created_at, Review.id)
                reviews = list(s.scalars(query))
                done = {
                    d.review_id
                    for d in s.scalars(
                        select(ReviewDecision).where(
                            ReviewDecision.reviewer == principal.holder,
                            ReviewDecision.review_id.in_([r.id for r in reviews]),
                        )
                    )
                }
                reviews = [r for r in reviews if r.id not in done]
            else:
                query = query.where(Review.requester == principal.holder).order_by(
                    Review.created_at.desc()
                )
                reviews = list(s.scalars(query))
            return [self._summary(r, len(self._decisions(s, r.id))) for r in reviews]

    def show(self, principal: Principal, review_id: str) -> dict[str, Any]:
        """What a reviewer decides on: the probe and each candidate's crop, with scores."""
        with self.sessions() as s:
            review = self._get(s, principal, review_id)
            decisions = self._decisions(s, review.id)
            out = self._summary(review, len(decisions))
            if review.sealed_result is None:
                out["Candidates"] = []
                out["Notice"] = "The review's material has been deleted (retention)."
                return out
            result = json.loads(self.box.open_bytes(review.sealed_result))
            out["Probe"] = self._probe(s, review, result)
            out["Candidates"] = self._candidates(s, review, result)
            out["Notice"] = (
                "Decide whether each candidate could be the person in the probe. A confirmed "
                "candidate is released to the requester as an investigative lead, not an "
                "identification."
            )
            return out

    def _crop(self, s: Session, face_id: str) -> str | None:
        sealed = s.scalar(
            select(FaceCrop.sealed)
            .join(Face, Face.row_id == FaceCrop.face_row_id)
            .where(Face.face_id == face_id)
        )
        if sealed is None:
            return None
        return base64.b64encode(self.box.open_bytes(sealed)).decode()

    def _probe(self, s: Session, review: Review, result: dict[str, Any]) -> dict[str, Any]:
        if review.sealed_probe is not None:
            crop = base64.b64encode(self.box.open_bytes(review.sealed_probe)).decode()
            return {"Crop": crop}
        face_id = result.get("SearchedFaceId") or result.get("SearchedFace", {}).get("FaceId")
        if face_id:
            return {"FaceId": face_id, "Crop": self._crop(s, face_id)}
        user_id = result.get("SearchedUser", {}).get("UserId")
        if user_id:
            return {"UserId": user_id, "Crop": self._user_crop(s, review, user_id)}
        return {"Crop": None}

    def _user_crop(self, s: Session, review: Review, user_id: str) -> str | None:
        face_id = s.scalar(
            select(Face.face_id)
            .join(User, Face.user_id == User.id)
            .join(Collection, User.collection_id == Collection.id)
            .where(
                Collection.organization_id == review.organization_id,
                Collection.name == review.collection,
                User.name == user_id,
            )
            .order_by(Face.row_id)
            .limit(1)
        )
        return self._crop(s, face_id) if face_id else None

    def _candidates(
        self, s: Session, review: Review, result: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if "UserMatches" in result:
            return [
                {
                    "CandidateId": m["User"]["UserId"],
                    "UserId": m["User"]["UserId"],
                    "Similarity": m["Similarity"],
                    "Crop": self._user_crop(s, review, m["User"]["UserId"]),
                }
                for m in result["UserMatches"]
            ]
        return [
            {
                "CandidateId": m["Face"]["FaceId"],
                "FaceId": m["Face"]["FaceId"],
                "ExternalImageId": m["Face"].get("ExternalImageId"),
                "Similarity": m["Similarity"],
                "Crop": self._crop(s, m["Face"]["FaceId"]),
            }
            for m in result.get("FaceMatches", [])
        ]

    # --- deciding --------------------------------------------------------------------------

    def decide(
        self,
        principal: Principal,
        review_id: str,
        decision: str,
        candidates: list[str],
        note: str,
        record: Record,
    ) -> dict[str, Any]:
        """Record a reviewer's decision (the policy point has checked who may decide)."""
        decision = decision.lower()
        if decision not in ("confirm", "reject"):
            raise InvalidParameterException("Decision must be CONFIRM or REJECT.")
        if not note or not note.strip():
            raise InvalidParameterException("A note explaining the decision is required.")
        if len(note) > MAX_NOTE:
            raise InvalidParameterException(f"The note is longer than {MAX_NOTE} characters.")
        if decision == "confirm" and not candidates:
            raise InvalidParameterException(
                "CONFIRM names the candidates confirmed (CandidateIds); use REJECT to reject all."
            )
        if decision == "reject" and candidates:
            raise InvalidParameterException("REJECT rejects every candidate; name none.")
        now = self.clock()
        with self.sessions.begin() as s:
            review = self._get(s, principal, review_id)
            status = self._status(review)
            if status != "open":
                raise ConflictException(f"Review {review_id} is {status}; it cannot be decided.")
            if review.sealed_result is None:
                raise ConflictException(f"Review {review_id} has no material left to decide on.")
            offered = set(_match_ids(json.loads(self.box.open_bytes(review.sealed_result))))
            unknown = [c for c in candidates if c not in offered]
            if unknown:
                raise InvalidParameterException(
                    f"Not candidates of review {review_id}: {', '.join(unknown[:5])}."
                )
            earlier = self._decisions(s, review.id)
            if any(d.reviewer == principal.holder for d in earlier):
                raise ConflictException("You have already decided this review.")
            chosen = sorted(set(candidates))
            s.add(
                ReviewDecision(
                    review_id=review.id,
                    reviewer=principal.holder,
                    reviewer_key=principal.access_key_id,
                    decision=decision,
                    confirmed=json.dumps(chosen),
                    note=note.strip(),
                    decided_at=now,
                )
            )
            agreeing = 1 + sum(
                1 for d in earlier if d.decision == decision and json.loads(d.confirmed) == chosen
            )
            if agreeing >= review.quorum:
                review.status = "confirmed" if decision == "confirm" else "rejected"
                review.closed_at = now
                review.purge_at = now + self.retention
                if decision == "confirm":
                    review.sealed_release = self.box.seal_bytes(json.dumps(chosen).encode())
            out = self._summary(review, len(earlier) + 1)
            out["Decision"] = decision.upper()
            if review.status == "open":
                out["Waiting"] = (
                    f"{review.quorum} reviewers must agree; {agreeing} "
                    f"{'has' if agreeing == 1 else 'have'} given this decision."
                )
            s.flush()
            record(s, out)
            return out

    def result(self, principal: Principal, review_id: str) -> dict[str, Any]:
        """The requester's view: status, and once confirmed, the released candidates."""
        with self.sessions() as s:
            review = self._get(s, principal, review_id)
            out = self._summary(review, len(self._decisions(s, review.id)))
            status = out["Status"]
            if status == "confirmed" and review.sealed_release and review.sealed_result:
                confirmed = json.loads(self.box.open_bytes(review.sealed_release))
                result = json.loads(self.box.open_bytes(review.sealed_result))
                out["Result"] = _released(result, confirmed)
                out["Label"] = LEAD_LABEL
                out["Notice"] = LEAD_NOTICE
            elif status == "confirmed":
                out["Notice"] = "The released result has been deleted (retention)."
            elif status == "rejected":
                out["Notice"] = "A reviewer rejected every candidate; nothing is released."
            elif status == "expired":
                out["Notice"] = "Nobody reviewed the candidates in time; nothing is released."
            else:
                out["Notice"] = "Waiting for a reviewer; nothing is released yet."
            return out

    # --- expiry and retention --------------------------------------------------------------

    def expire(self, record: Record) -> dict[str, int]:
        """Close reviews past their deadline; delete material past its retention.

        ``record(session, counts)`` is called in the same transaction when anything changed.
        """
        now = self.clock()
        with self.sessions.begin() as s:
            expired = _changed(
                s,
                update(Review)
                .where(Review.status == "open", Review.expires_at <= now)
                .values(status="expired", closed_at=now, purge_at=now + self.retention),
            )
            purged = _changed(
                s,
                update(Review)
                .where(Review.purge_at <= now, Review.sealed_result.is_not(None))
                .values(sealed_result=None, sealed_probe=None, sealed_release=None),
            )
            counts = {"expired": expired or 0, "purged": purged or 0}
            if expired or purged:  # a sweep that changed nothing leaves no record
                record(s, counts)
        return counts


def _changed(s: Session, statement: Update) -> int:
    """Run an UPDATE; how many rows it changed."""
    result = s.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount
