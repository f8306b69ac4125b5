"""The query API and dashboard as one FastAPI app (:func:`create_app`).

Routes (OpenAPI at ``/openapi.json``, interactive docs at ``/docs``):

* ``POST /api/login``: password + TOTP -> session token (:mod:`.security`).
* ``GET /api/me``: who the token is, and which dashboard tabs the role may open.
* ``GET /api/datasets``: the catalog's datasets the caller may read;
  ``GET /api/datasets/{name}``: a dataset's rows, masked for the caller.
* ``GET /api/queries``, ``GET /api/queries/{name}``: the saved query suite, and one run.
* ``POST /api/query``: one ad-hoc read-only SQL statement.
* ``GET /api/reports/{name}/{date}``: a regulatory report's summary.
* ``GET /api/dashboard/{tab}``: the dashboard's numbers (:mod:`.dashboard`); ``/dashboard`` is
  the page itself (static files in ``ray_platform/api/static``, no build step).

Data calls take ``format`` (json, csv, arrow), ``offset`` and ``limit``. Every call is counted
against the caller's per-minute limit and appended to the audit trail (event ``api``), and
every :class:`~ray_platform.errors.PlatformError` becomes ``{"error", "message", "status"}``
with the status the error class carries.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ray_platform.api import results
from ray_platform.api.dashboard import Dashboard
from ray_platform.api.fraud import FraudFeed
from ray_platform.api.security import RateLimiter, open_session, principal_of
from ray_platform.errors import NotFound, PlatformError
from ray_platform.governance.access import Principal
from ray_platform.settings import Settings, get_settings, load_settings

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")
DATASET = r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$"
DATE = r"^\d{4}-\d{2}-\d{2}$"


class ErrorBody(BaseModel):
    """Every error the API answers with."""

    error: str = Field(description="Error class, e.g. AccessDenied, SqlError, RateLimited.")
    message: str = Field(description="What went wrong, in one line.")
    status: int = Field(description="The HTTP status, repeated.")


class LoginRequest(BaseModel):
    """Password and current TOTP code of a user (``gbank auth add-user``)."""

    user: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)
    code: str = Field(min_length=1, max_length=16, description="6-digit TOTP code.")


class Session(BaseModel):
    """A session token to send as ``Authorization: Bearer <token>``."""

    token: str
    user: str
    role: str
    expires_in: int


class Me(BaseModel):
    """The caller as the policy sees them."""

    user: str
    role: str
    tabs: list[str]


class QueryRequest(BaseModel):
    """One read-only SQL statement (SELECT, WITH, VALUES, DESCRIBE, SUMMARIZE)."""

    sql: str = Field(min_length=1, max_length=100_000)


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": why}
    for code, why in (
        (400, "bad argument or SQL"),
        (401, "missing or wrong credentials"),
        (403, "the policy refuses the read"),
        (404, "unknown dataset, query, report or tab"),
        (422, "invalid request"),
        (429, "rate limit exceeded"),
        (504, "query timed out"),
    )
}
PAGED = {
    200: {
        "description": "One page of rows: JSON body, or CSV / Arrow IPC stream with "
        "X-Total-Rows and X-Next-Offset headers.",
        "content": {"text/csv": {}, results.ARROW_MEDIA: {}},
    }
}


def caller(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer <token>")] = None,
) -> Principal:
    """The authenticated principal of a request, counted against its rate limit."""
    who = principal_of(authorization, request.app.state.settings)
    request.state.principal = who  # for the audit record
    request.app.state.limiter.check(who.user)
    return who


Caller = Annotated[Principal, Depends(caller)]
Tab = Literal["fraud", "risk", "data"]
ReportName = Literal["basel3", "mifid2", "sox"]
Fmt = Annotated[results.Format, Query(alias="format", description="json, csv or arrow")]
Offset = Annotated[int, Query(ge=0, le=2**31, description="First row of the page.")]
Limit = Annotated[int, Query(ge=1, le=results.MAX_PAGE, description="Rows per page.")]


def _error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Any:
    body = {"error": kind, "message": message, "status": status}
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(
    settings: Settings | None = None,
    *,
    feed: FraudFeed | None = None,
) -> FastAPI:
    """The API over ``settings``' lake.

    ``feed`` is where the fraud tab reads scores and alerts (default: the ``fraud-scores`` and
    ``fraud-alerts`` topics).
    """
    s = settings or get_settings()
    limiter = RateLimiter(s.api_rate_limit_per_minute)
    board = Dashboard(s, feed or FraudFeed(s))
    app = FastAPI(
        title="GlobalBank query API",
        version="1",
        description="Governed self-service SQL, datasets, reports and the dashboard.",
    )

    @app.exception_handler(PlatformError)
    async def platform_error(request: Request, exc: PlatformError) -> Any:
        headers = {"Retry-After": "60"} if exc.http_status == 429 else None
        if exc.http_status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return _error(exc.http_status, type(exc).__name__, str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Any:
        parts = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        return _error(422, "InvalidArgument", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        return _error(exc.status_code, "HTTPError", str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Any:
        log.exception("unexpected error on %s", request.url.path)
        return _error(500, "InternalError", f"{type(exc).__name__}: {exc}")

    @app.middleware("http")
    async def audit(request: Request, call_next: Any) -> Any:
        from starlette.concurrency import run_in_threadpool

        t0 = time.perf_counter()
        request.state.principal = None
        try:
            response = await call_next(request)
            status = response.status_code
        except Exception:
            status = 500
            raise
        finally:
            who = request.state.principal
            outcome = "ok" if status < 400 else "denied" if status in (401, 403, 429) else "failed"
            await run_in_threadpool(
                _audit, s, who, outcome, request.method, request.url.path, status,
                round((time.perf_counter() - t0) * 1000, 1),
            )  # fmt: skip
        return response

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    @app.get("/dashboard", include_in_schema=False)
    def dashboard_page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.post("/api/login", response_model=Session, responses=ERRORS, tags=["auth"])
    def login(body: LoginRequest) -> Session:
        """Log in with password and TOTP code; the session token lasts a working day."""
        from ray_platform.api.security import SESSION_TTL_S

        token, role = open_session(body.user, body.password, body.code, s)
        return Session(token=token, user=body.user, role=role, expires_in=SESSION_TTL_S)

    @app.get("/api/me", response_model=Me, responses=ERRORS, tags=["auth"])
    def me(who: Caller) -> Me:
        """The caller's user, role and the dashboard tabs the role may open."""
        return Me(user=who.user, role=who.role, tabs=board.tabs(who))

    @app.get("/api/datasets", responses=ERRORS, tags=["data"])
    def datasets(who: Caller) -> list[dict[str, Any]]:
        """Datasets the caller may read now, with the catalog's description where it has one."""
        from ray_platform.governance.access import readable

        return [_describe(n, s) for n in readable(who, s)]

    @app.get("/api/datasets/{name}", responses={**ERRORS, **PAGED}, tags=["data"])
    def dataset_rows(
        who: Caller,
        name: Annotated[str, PathParam(pattern=DATASET, max_length=200)],
        fmt: Fmt = "json",
        offset: Offset = 0,
        limit: Limit = 1000,
    ) -> Response:
        """The rows of one dataset (``schema.table``), masked as the caller's role sees them."""
        from ray_platform.governance.access import read_table

        return results.page(read_table(who, name, settings=s), fmt, offset, limit)

    @app.get("/api/queries", responses=ERRORS, tags=["sql"])
    def queries(who: Caller) -> list[dict[str, str]]:
        """The saved query suite: name, description and SQL."""
        from ray_platform.warehouse import sql as wsql

        return [{"name": q.name, "description": q.description, "sql": q.sql}
                for q in wsql.saved_queries().values()]  # fmt: skip

    @app.get("/api/queries/{name}", responses={**ERRORS, **PAGED}, tags=["sql"])
    def run_saved(
        who: Caller,
        name: Annotated[str, PathParam(max_length=200)],
        fmt: Fmt = "json",
        offset: Offset = 0,
        limit: Limit = 1000,
    ) -> Response:
        """Run one saved query as the caller."""
        from ray_platform.warehouse import sql as wsql

        table = wsql.query(wsql.saved(name).sql, s, who, timeout_s=s.api_query_timeout_s)
        return results.page(table, fmt, offset, limit)

    @app.post("/api/query", responses={**ERRORS, **PAGED}, tags=["sql"])
    def run_sql(
        who: Caller, body: QueryRequest, fmt: Fmt = "json", offset: Offset = 0, limit: Limit = 1000
    ) -> Response:
        """Run one ad-hoc read-only statement as the caller (the same guard as ``gbank sql``)."""
        from ray_platform.warehouse import sql as wsql

        table = wsql.query(body.sql, s, who, timeout_s=s.api_query_timeout_s)
        return results.page(table, fmt, offset, limit)

    @app.get("/api/reports/{name}/{date}", responses=ERRORS, tags=["reports"])
    def report(
        who: Caller,
        name: Annotated[ReportName, PathParam()],
        date: Annotated[str, PathParam(pattern=DATE)],
    ) -> dict[str, Any]:
        """A regulatory report's summary (``gbank report NAME --date D`` writes it)."""
        return _report(who, name, date, s)

    @app.get("/api/dashboard/{tab}", responses=ERRORS, tags=["dashboard"])
    def dashboard_tab(who: Caller, tab: Annotated[Tab, PathParam()]) -> Any:
        """The numbers of one dashboard tab (fraud, risk, data) as the caller may see them."""
        return JSONResponse(board.tab(tab, who))

    app.state.settings, app.state.limiter = s, limiter
    return app


def _audit(
    s: Settings, who: Principal | None, outcome: str, method: str, path: str, status: int,
    ms: float,
) -> None:  # fmt: skip
    from ray_platform.governance.audit import audit_trail

    try:
        audit_trail(s).append(
            "api", actor=who.user if who else "anonymous", role=who.role if who else None,
            outcome=outcome, method=method, path=path, status=status, ms=ms,  # type: ignore[arg-type]
        )  # fmt: skip
    except Exception:  # the response is already decided; losing the record must be loud
        log.exception("audit record of %s %s not written", method, path)


@lru_cache(maxsize=1)
def _catalog() -> Any:
    """The data catalog, built once: descriptions and classifications do not depend on a lake."""
    from ray_platform.governance.catalog import catalog

    return catalog(load_settings())


def _describe(name: str, s: Settings) -> dict[str, Any]:
    from ray_platform.warehouse import marts

    out: dict[str, Any] = {"name": name, "description": "", "classification": None}
    mart = next((v for v in marts.MARTS if v.qualified == name), None)
    if mart is not None:
        out["description"] = mart.description
        return out
    try:
        cat = _catalog()
    except PlatformError:
        return out
    if cat is not None:
        try:
            d = cat.get(name)
        except PlatformError:
            return out
        out.update(description=d.description, classification=d.classification)
    return out


def _report(who: Principal, name: str, date: str, s: Settings) -> dict[str, Any]:
    import datetime as dt
    import json

    from ray_platform.governance.access import authorize
    from ray_platform.reports import REPORTS
    from ray_platform.reports._base import REPORTS_ROOT
    from ray_platform.storage import storage_for

    if name not in REPORTS:
        raise NotFound(f"no report {name!r}; reports: {', '.join(REPORTS)}")
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        from ray_platform.errors import InvalidArgument

        raise InvalidArgument(f"not a YYYY-MM-DD date: {date!r}") from None
    authorize(
        who, f"reports.{name}", settings=s, query=f"api report {name} {day}"
    ).raise_if_denied()
    storage = storage_for(s.lake_uri, s.s3_endpoint_url)
    path = f"{REPORTS_ROOT}/{name}/{day.isoformat()}/summary.json"
    if not storage.exists(path):
        raise NotFound(
            f"no {name} report for {day}; build it with `gbank report {name} --date {day}`"
        )
    with storage.open(path, "rb") as fh:
        return json.loads(fh.read())
