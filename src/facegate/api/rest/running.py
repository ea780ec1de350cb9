"""Running one face operation from the REST door: the same validation and the same
governed path (:func:`facegate.api.governed.execute`) as the AWS JSON door."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from facegate.actions.refusals import record_refusal
from facegate.api.governed import INPUT_HEADERS, execute, inputs_from
from facegate.api.operations import Context
from facegate.api.rest.bodies import services_of
from facegate.api.validation import operation_model, validate
from facegate.errors import FacegateError
from facegate.policy.registry import Principal


async def run(
    request: Request, caller: Principal, operation: str, params: dict[str, Any], status: int = 200
) -> JSONResponse:
    """Validate ``params`` as the AWS JSON door does, run the operation under the policies.

    The rules' inputs come from the X-Facegate-* headers or from the fields CaseReference,
    WarrantReference, LegalBasis and Provenance; the answer carries RequestedThreshold,
    EffectiveThreshold, ReviewId and PolicyVersion beside the operation's own fields.
    """
    state = request.app.state
    model = operation_model(operation)
    assert model is not None
    services = services_of(request)
    try:
        fields = {name: params.pop(name) for _, name, _ in INPUT_HEADERS.values() if name in params}
        inputs = inputs_from(request.headers, fields)
        valid = validate(model, params, max_image_bytes=state.settings.decode.max_bytes)
    except FacegateError as error:
        await asyncio.to_thread(
            record_refusal, services, caller, operation, error, request.state.request_id
        )
        raise
    context = Context(
        settings=state.settings,
        pool=state.pool,
        request_id=request.state.request_id,
        caller=caller,
        gallery=services.gallery,
        idempotency=state.idempotency,
        inputs=inputs,
    )
    outcome = await execute(services, operation, valid, context)
    body = dict(outcome.body)
    decision = outcome.decision
    if decision.requested_threshold is not None:
        body["RequestedThreshold"] = decision.requested_threshold
        body["EffectiveThreshold"] = decision.effective_threshold
    if outcome.review_id:
        body["ReviewId"] = outcome.review_id
        body["ReviewStatus"] = "open"
    body["PolicyVersion"] = decision.version
    return JSONResponse(body, status_code=status, headers=outcome.headers())
