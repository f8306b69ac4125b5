"""The query API in process: login, the same governed reads as `gbank sql`, pages in three
formats, bad input as JSON errors with the right status, rate limit, timeout, audit, and the
dashboard's numbers per role."""

from __future__ import annotations

import io
import json
import uuid

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from fastapi.testclient import TestClient

from ray_platform.api import create_app
from ray_platform.api.dashboard import TABS
from ray_platform.api.security import RateLimiter
from ray_platform.errors import RateLimited
from ray_platform.governance import auth
from ray_platform.governance.access import Principal
from ray_platform.governance.audit import audit_trail
from ray_platform.settings import Settings, load_settings
from ray_platform.storage import storage_for
from ray_platform.warehouse import sql as wsql
from tests.unit import api_lake
from tests.unit.api_lake import StubFeed

pytestmark = pytest.mark.unit
VAR_SQL = "SELECT as_of, desk, var, es FROM mart_risk.var_by_desk ORDER BY as_of, desk, var"


@pytest.fixture(scope="module")
def lake() -> Settings:
    return api_lake.build()


@pytest.fixture(scope="module")
def client(lake: Settings) -> TestClient:
    return TestClient(create_app(lake, feed=StubFeed(lake)))


def bearer(s: Settings, role: str, user: str | None = None) -> dict[str, str]:
    token = auth.issue_token(user or f"{role}-user", kind="service", role=role, settings=s)
    return {"Authorization": f"Bearer {token}"}


def test_login_with_password_and_totp_gives_a_session_that_reads_as_the_users_role(
    client: TestClient, lake: Settings
) -> None:
    user = f"ana-{uuid.uuid4().hex[:6]}"
    secret = auth.add_user(user, "correct horse battery", "analyst", lake)
    wrong = client.post("/api/login", json={"user": user, "password": "nope-nope-nope",
                                            "code": api_lake.totp_now(secret)})  # fmt: skip
    assert wrong.status_code == 401 and wrong.json()["error"] == "AuthenticationFailed"
    ok = client.post("/api/login", json={"user": user, "password": "correct horse battery",
                                         "code": api_lake.totp_now(secret)})  # fmt: skip
    assert ok.status_code == 200, ok.text
    headers = {"Authorization": f"Bearer {ok.json()['token']}"}
    for _ in range(2):  # the session token is reusable, unlike the login token behind it
        me = client.get("/api/me", headers=headers)
        assert me.status_code == 200
        assert me.json() == {"user": user, "role": "analyst", "tabs": ["fraud", "risk"]}


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "missing credentials"),
        ({"Authorization": "Basic dXNlcjpwdw=="}, "bearer"),
        ({"Authorization": "Bearer not.atoken"}, "signature"),
    ],
)
def test_missing_or_wrong_credentials_are_401_json(
    client: TestClient, headers: dict[str, str], why: str
) -> None:
    r = client.post("/api/query", json={"sql": "SELECT 1"}, headers=headers)
    assert r.status_code == 401
    body = r.json()
    assert body["error"] == "AuthenticationFailed" and why in body["message"]
    assert body["status"] == 401


def test_a_role_the_policy_does_not_know_is_403(client: TestClient, lake: Settings) -> None:
    r = client.get("/api/me", headers=bearer(lake, "intern"))
    assert r.status_code == 403 and r.json()["error"] == "AccessDenied"


@pytest.mark.parametrize("role", ["business_user", "risk_manager", "data_engineer"])
def test_ad_hoc_sql_returns_what_gbank_sql_returns_for_the_role(
    client: TestClient, lake: Settings, role: str
) -> None:
    want = wsql.query(VAR_SQL, lake, Principal(f"{role}-user", role))
    r = client.post("/api/query", json={"sql": VAR_SQL}, headers=bearer(lake, role),
                    params={"limit": 10_000})  # fmt: skip
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["total_rows"] == want.num_rows == len(got["rows"])
    assert [row["var"] for row in got["rows"]] == want["var"].to_pylist()
    if role == "business_user":  # confidential VaR is redacted for this role: masked, not leaked
        assert all(row["var"] is None for row in got["rows"])
    if role == "data_engineer":
        assert {row["var"] for row in got["rows"]} >= set(api_lake.VAR.values())


def test_pages_in_json_csv_and_arrow_agree(client: TestClient, lake: Settings) -> None:
    h = bearer(lake, "data_engineer")
    everything = wsql.query(VAR_SQL, lake, Principal("x", "data_engineer"))
    total = everything.num_rows
    first = client.post("/api/query", json={"sql": VAR_SQL}, headers=h,
                        params={"limit": 4}).json()  # fmt: skip
    assert (first["total_rows"], first["offset"], first["next_offset"]) == (total, 0, 4)
    rows, offset = [], 0
    while offset is not None:
        page = client.post("/api/query", json={"sql": VAR_SQL}, headers=h,
                           params={"limit": 4, "offset": offset}).json()  # fmt: skip
        rows += page["rows"]
        offset = page["next_offset"]
    assert [r["var"] for r in rows] == everything["var"].to_pylist()

    csv = client.post("/api/query", json={"sql": VAR_SQL}, headers=h,
                      params={"format": "csv", "offset": 4, "limit": 4})  # fmt: skip
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["x-total-rows"] == str(total) and csv.headers["x-next-offset"] == "8"
    got_csv = pacsv.read_csv(io.BytesIO(csv.content))
    assert got_csv["var"].to_pylist() == everything["var"].to_pylist()[4:8]

    arrow = client.post("/api/query", json={"sql": VAR_SQL}, headers=h,
                        params={"format": "arrow", "offset": 8})  # fmt: skip
    table = pa.ipc.open_stream(arrow.content).read_all()
    assert table.equals(everything.slice(8))
    assert "x-next-offset" not in arrow.headers


@pytest.mark.parametrize(
    ("sql", "status", "error"),
    [
        ("SELEC 1", 400, "SqlError"),
        ("SELECT * FROM warehouse.no_such_table", 400, "SqlError"),
        ("DELETE FROM warehouse.fact_backtests", 403, "QueryRefused"),
        ("SELECT * FROM read_parquet('/etc/passwd')", 403, "QueryRefused"),
        ("SELECT * FROM platform.dag_runs", 403, "AccessDenied"),
    ],
)
def test_bad_sql_is_a_json_error_with_its_status(
    client: TestClient, lake: Settings, sql: str, status: int, error: str
) -> None:
    r = client.post("/api/query", json={"sql": sql}, headers=bearer(lake, "analyst"))
    assert (r.status_code, r.json()["error"]) == (status, error), r.text


def test_datasets_unknown_denied_and_masked(client: TestClient, lake: Settings) -> None:
    h = bearer(lake, "business_user")
    listed = {d["name"] for d in client.get("/api/datasets", headers=h).json()}
    assert "mart_risk.var_by_desk" in listed and "warehouse.fact_backtests" not in listed
    assert client.get("/api/datasets/warehouse.nothing_here", headers=h).status_code == 404
    denied = client.get("/api/datasets/warehouse.fact_backtests", headers=h)
    assert denied.status_code == 403 and "business_user" in denied.json()["message"]
    assert client.get("/api/datasets/not-a-name", headers=h).status_code == 422
    rows = client.get("/api/datasets/mart_risk.var_by_desk", headers=h).json()["rows"]
    assert rows and all(r["var"] is None and r["es"] is None for r in rows)


def test_saved_queries_listed_and_unknown_one_is_404(client: TestClient, lake: Settings) -> None:
    h = bearer(lake, "analyst")
    names = [q["name"] for q in client.get("/api/queries", headers=h).json()]
    assert names == list(wsql.saved_queries())
    missing = client.get("/api/queries/no_such_query", headers=h)
    assert missing.status_code == 404 and names[0] in missing.json()["message"]


def test_report_summary_is_served_to_roles_that_may_read_it(
    client: TestClient, lake: Settings
) -> None:
    day = "2026-01-07"
    path = f"/api/reports/basel3/{day}"
    assert client.get(path, headers=bearer(lake, "risk_manager")).status_code == 404
    summary = {"name": "basel3", "business_date": day, "summary": {"cet1": 0.153}}
    storage = storage_for(lake.lake_uri, lake.s3_endpoint_url)
    with storage.open(f"reports/basel3/{day}/summary.json", "wb") as fh:
        fh.write(json.dumps(summary).encode())
    assert client.get(path, headers=bearer(lake, "risk_manager")).json() == summary
    assert client.get(path, headers=bearer(lake, "analyst")).status_code == 403
    nope = client.get(f"/api/reports/nope/{day}", headers=bearer(lake, "analyst"))
    assert nope.status_code == 422 and "basel3" in nope.json()["message"]


def test_query_timeout_interrupts_and_answers_504(lake: Settings) -> None:
    s = load_settings(home=lake.home, api_query_timeout_s=0.5)
    c = TestClient(create_app(s, feed=StubFeed(s)))
    r = c.post("/api/query", json={"sql": "SELECT count(*) FROM range(10000000000) a, range(10) b"},
               headers=bearer(s, "analyst"))  # fmt: skip
    assert r.status_code == 504 and r.json()["error"] == "QueryTimeout"


def test_rate_limit_is_per_user_and_answers_429(lake: Settings) -> None:
    s = load_settings(home=lake.home, api_rate_limit_per_minute=3)
    c = TestClient(create_app(s, feed=StubFeed(s)))
    alice, bob = bearer(s, "analyst", "alice"), bearer(s, "analyst", "bob")
    assert [c.get("/api/me", headers=alice).status_code for _ in range(3)] == [200] * 3
    limited = c.get("/api/me", headers=alice)
    assert limited.status_code == 429 and limited.json()["error"] == "RateLimited"
    assert limited.headers["retry-after"]
    assert c.get("/api/me", headers=bob).status_code == 200  # someone else's budget


def test_rate_limiter_window_slides() -> None:
    limiter = RateLimiter(2, window_s=60)
    limiter.check("u", now=0)
    limiter.check("u", now=10)
    with pytest.raises(RateLimited):
        limiter.check("u", now=59)
    limiter.check("u", now=60.5)  # the first call left the window


def test_every_call_is_audited_allowed_or_not(client: TestClient, lake: Settings) -> None:
    marker = uuid.uuid4().hex[:8]
    user = f"audited-{marker}"
    h = bearer(lake, "analyst", user)
    client.get("/api/me", headers=h)
    client.post("/api/query", json={"sql": "SELECT * FROM platform.dag_runs"}, headers=h)
    client.get("/api/me")
    records = [r for r in audit_trail(lake).records() if r.event == "api"]
    mine = [(r.details["path"], r.details["status"], r.outcome) for r in records if r.actor == user]
    assert mine == [("/api/me", 200, "ok"), ("/api/query", 403, "denied")]
    assert records[-1].actor == "anonymous" and records[-1].details["status"] == 401
    assert audit_trail(lake).verify().ok


def test_dashboard_tabs_follow_the_policy(client: TestClient, lake: Settings) -> None:
    tabs = {r: client.get("/api/me", headers=bearer(lake, r)).json()["tabs"]
            for r in ("data_engineer", "risk_manager", "business_user")}  # fmt: skip
    assert tabs == {"data_engineer": list(TABS), "risk_manager": ["fraud", "risk"],
                    "business_user": ["risk"]}  # fmt: skip
    no = client.get("/api/dashboard/data", headers=bearer(lake, "business_user"))
    assert no.status_code == 403
    risk = client.get("/api/dashboard/risk", headers=bearer(lake, "business_user")).json()
    assert "denied" in risk["stress"] and "denied" in risk["backtest"]
    assert risk["var_trend"]["rows"] and all(r["var"] is None for r in risk["var_trend"]["rows"])
    assert client.get("/api/dashboard/nope", headers=bearer(lake, "analyst")).status_code == 422


def test_dashboard_numbers_come_from_the_lake(client: TestClient, lake: Settings) -> None:
    h = bearer(lake, "data_engineer")
    risk = client.get("/api/dashboard/risk", headers=h).json()
    trend = {(r["as_of"], r["desk"]): r["var"] for r in risk["var_trend"]["rows"]}
    assert trend == {(d.isoformat(), k): v for (d, k), v in api_lake.VAR.items()}
    assert {r["scenario"]: r["pnl"] for r in risk["stress"]["rows"]} == api_lake.STRESS
    assert {r["desk"]: r["zone"] for r in risk["backtest"]["rows"]} == api_lake.ZONES

    data = client.get("/api/dashboard/data", headers=h).json()
    fresh = {r["table"]: r["passed"] for r in data["quality"]["rows"] if r["check"] == "freshness"}
    assert fresh == {"silver/transactions": True, "silver/trades": False}  # the latest run
    runs = [(r["run_id"], r["status"], r["done"]) for r in data["dag_runs"]["rows"]]
    assert runs == [("run-b", "failed", 2), ("run-a", "succeeded", 3)]

    fraud = client.get("/api/dashboard/fraud", headers=h).json()
    labelled = {t: v for t, v in api_lake.LABELS.items() if v is not None}
    assert fraud["precision"] == {"reviewed": len(labelled), "fraud": sum(labelled.values()),
                                  "value": sum(labelled.values()) / len(labelled)}  # fmt: skip
    assert [a["transaction_id"] for a in fraud["review_queue"]["top"]] == ["T6", "T5"]
    assert [h["alerts"] for h in fraud["alerts_per_hour"]] == [4, 2]
    assert sum(b["count"] for b in fraud["score_distribution"]) == 16
    assert fraud["score_distribution"][0]["count"] == 10
    assert fraud["model"] == {"version": "7", "source": "newest score on the scores topic"}


def test_detached_service_serves_the_lake_and_stops(lake: Settings) -> None:
    import socket
    import urllib.request

    from ray_platform.api import ApiService

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = load_settings(home=lake.home, api_address=f"127.0.0.1:{port}")
    service = ApiService(s, tls=False)
    assert service.start() is True
    try:
        assert service.start() is False  # already answering
        assert service.url == f"http://127.0.0.1:{port}/dashboard"
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/query", data=json.dumps({"sql": VAR_SQL}).encode(),
            headers={**bearer(s, "data_engineer"), "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=30) as r:
            body = json.loads(r.read())
        assert (
            body["total_rows"] == wsql.query(VAR_SQL, s, Principal("x", "data_engineer")).num_rows
        )
    finally:
        assert service.stop() is True
    assert not service.ping()
