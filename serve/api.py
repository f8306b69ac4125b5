"""The FastAPI application of the fraud service: routes, body limit and error mapping.

Built by :func:`make_api` around a :class:`Runtime` (scorer + model store + feature source),
so unit tests run it with FastAPI's test client and fakes, and the Ray Serve replica
(:mod:`serve.app`) runs the very same object. Every bad input is a 4xx with field-level
errors (:class:`serve.schemas.ErrorBody`); nothing a caller sends can produce a 500.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from ray_platform.errors import PlatformError
from serve.model_store import ModelStore
from serve.schemas import (
    MAX_BODY_BYTES,
    BatchRequest,
    BatchResponse,
    ErrorBody,
    FieldError,
    Score,
    Transaction,
    field_errors,
)
from serve.scoring import Scorer

_ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorBody} for c in (400, 413, 422, 503)}


@dataclass
class Runtime:
    """What a replica holds: the scorer, the live model and whether features are ready.

    ``score_one``, when set, is an async function scoring one transaction through a batcher
    (the replica's ``@serve.batch`` method), so concurrent requests share one feature read and
    one model call.
    """

    scorer: Scorer
    models: ModelStore
    features_ready: Any  # a zero-argument callable returning bool
    score_one: Any = None


_PROCESS: dict[str, Runtime] = {}


def set_process_runtime(runtime: Runtime) -> None:
    """Make ``runtime`` the one every API in this process falls back to.

    Ray Serve serialises the FastAPI app into the replica, so the replica's copy is not the
    object the deployment class can reach; the routes look the runtime up here instead.
    """
    _PROCESS["runtime"] = runtime


def process_runtime() -> Runtime | None:
    """The runtime set by :func:`set_process_runtime`, if any."""
    return _PROCESS.get("runtime")


class BodyLimit:
    """ASGI middleware: refuse bodies over ``limit`` bytes with a 413, before parsing."""

    def __init__(self, app: Any, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Check the declared length, then count the bytes as they arrive."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for k, v in scope.get("headers", ()):
            if k == b"content-length" and v.isdigit() and int(v) > self.limit:
                await _too_large(send, self.limit)
                return
        seen = 0

        async def limited() -> dict[str, Any]:
            nonlocal seen
            msg = await receive()
            seen += len(msg.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return msg

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(send, self.limit)


class _TooLarge(Exception):
    pass


async def _too_large(send: Any, limit: int) -> None:
    body = ErrorBody(error=f"request body over {limit} bytes").model_dump_json().encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class FastScore:
    """ASGI middleware: ``POST /fraud/score`` answered here, the rest passed to FastAPI.

    The hottest route skips FastAPI's routing, dependency solving and response machinery, which
    cost about as much CPU per request as scoring itself and capped one replica near 500
    requests/s on the 2-core machine. It does what the FastAPI route below does (that route
    still documents the endpoint in ``/openapi.json`` and serves if this middleware is absent):
    the same validation model, the same error bodies and codes, the same batcher. The unit
    tests exercise every error through it.
    """

    def __init__(self, app: Any, runtime: Any) -> None:
        self.app, self.runtime = app, runtime

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Score ``POST /fraud/score`` directly; anything else goes to the wrapped app."""
        if scope["type"] != "http" or scope["method"] != "POST" or _route(scope) != SCORE_PATH:
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        chunks = []
        while True:
            msg = await receive()
            chunks.append(msg.get("body", b""))
            if not msg.get("more_body"):
                break
        status, body = await self._score(b"".join(chunks), began)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _score(self, raw: bytes, began: float) -> tuple[int, bytes]:
        try:
            txn = Transaction.model_validate_json(raw)
        except ValidationError as exc:
            errors = list(exc.errors())
            if any(e.get("type") == "json_invalid" for e in errors):
                return _error_body(400, "request body is not valid JSON", field_errors(errors))
            return _error_body(422, "invalid transaction", field_errors(errors))
        r = self.runtime()
        if r is None:
            return _error_body(503, "service starting")
        try:
            if r.score_one is not None:
                s = await r.score_one(txn)
            else:
                [s] = r.scorer.score([txn], r.models.current)
        except PlatformError as exc:
            return _error_body(exc.http_status, str(exc))
        s.latency_ms = (time.perf_counter() - began) * 1000
        return 200, s.model_dump_json().encode()


SCORE_PATH = "/fraud/score"


def _route(scope: dict[str, Any]) -> str:
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _error_body(
    status: int, error: str, fields: list[FieldError] | None = None
) -> tuple[int, bytes]:
    return status, ErrorBody(error=error, fields=fields or []).model_dump_json().encode()


def _error(status: int, error: str, fields: list[FieldError] | None = None) -> JSONResponse:
    return JSONResponse(
        ErrorBody(error=error, fields=fields or []).model_dump(), status_code=status
    )


def make_api(runtime: Runtime | None = None) -> FastAPI:
    """The fraud API; ``runtime`` may be attached later as ``api.state.runtime``."""
    api = FastAPI(
        title="GlobalBank fraud scoring",
        version="1.0",
        description="Real-time card fraud scores with reasons, from the MLflow champion.",
    )
    api.state.runtime = runtime

    def current() -> Runtime | None:
        return api.state.runtime or process_runtime()

    # Added first, so it runs inside the body limit (Starlette wraps later additions outside).
    api.add_middleware(FastScore, runtime=current)
    api.add_middleware(BodyLimit)

    def rt() -> Runtime:
        r = current()
        if r is None:
            raise _NotReady("service starting")
        return r

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error(400, "request body is not valid JSON", field_errors(errors))
        return _error(422, "invalid transaction", field_errors(errors))

    @api.exception_handler(_NotReady)
    async def _not_ready(request: Request, exc: _NotReady) -> JSONResponse:
        return _error(503, str(exc))

    @api.exception_handler(PlatformError)
    async def _platform(request: Request, exc: PlatformError) -> JSONResponse:
        return _error(exc.http_status, str(exc))

    @api.post(SCORE_PATH, response_model=Score, responses=_ERRORS)
    async def score(txn: Transaction) -> Response:
        """Score one transaction: probability, decision, top reasons, model version."""
        began = time.perf_counter()
        r = rt()
        if r.score_one is not None:
            s = await r.score_one(txn)
        else:
            model = r.models.current  # held for the whole request, whatever swaps meanwhile
            [s] = r.scorer.score([txn], model)
        s.latency_ms = (time.perf_counter() - began) * 1000
        # Already a validated Score: FastAPI's response_model would validate and encode it a
        # second time (a tenth of a request's CPU); the model still documents the body.
        return Response(s.model_dump_json(), media_type="application/json")

    @api.post("/fraud/score/batch", response_model=BatchResponse, responses=_ERRORS)
    async def score_batch(batch: BatchRequest) -> BatchResponse | JSONResponse:
        """Score up to the configured ``max_batch`` transactions, in order."""
        began = time.perf_counter()
        r = rt()
        limit = r.scorer.config.max_batch
        if len(batch.transactions) > limit:
            return _error(
                413,
                f"batch of {len(batch.transactions)} transactions, the limit is {limit}",
                [FieldError(field="transactions", message=f"at most {limit} items")],
            )
        model = r.models.current
        scores = r.scorer.score(batch.transactions, model)
        ms = (time.perf_counter() - began) * 1000
        return BatchResponse(scores=scores, model_version=model.version, latency_ms=ms)

    @api.get("/health")
    async def health() -> JSONResponse:
        """200 only when a model and the online store are loaded; 503 otherwise."""
        r = current()
        model = r is not None and r.models.loaded
        store = r is not None and bool(r.features_ready())
        body = {
            "status": "ok" if model and store else "not_ready",
            "model_loaded": model,
            "online_store_loaded": store,
            "model_version": r.models.current.version if model else None,
            "last_model_error": r.models.last_error if r else None,
        }
        return JSONResponse(body, status_code=200 if model and store else 503)

    @api.get("/model")
    async def model_info() -> dict[str, Any]:
        """The live model: name, version, alias, training run id, load time."""
        return rt().models.current.describe()

    @api.get("/fraud/stats")
    async def stats() -> dict[str, Any]:
        """Decisions so far in this replica and the review share against the alert budget."""
        r = rt()
        return r.scorer.budget.report(r.scorer.config.alert_budget) | {
            "thresholds": {
                "review": r.scorer.config.review_threshold,
                "decline": r.scorer.config.decline_threshold,
            }
        }

    return api


class _NotReady(Exception):
    pass
