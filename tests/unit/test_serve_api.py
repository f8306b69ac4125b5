"""The HTTP surface with fakes: validation errors are 4xx with fields, never a 500."""

from __future__ import annotations

import asyncio
import json
import json as _json
from typing import Any

import pytest

from serve.api import Runtime, make_api
from serve.model_store import ModelStore
from serve.schemas import MAX_BODY_BYTES
from serve.scoring import Scorer, ScoringConfig, StaticFeatures
from serve.testing import sample_transaction
from tests.unit.test_serve_core import FakeSource

pytestmark = pytest.mark.unit


class Response:
    def __init__(self, status: int, body: bytes) -> None:
        self.status_code, self.content = status, body
        self.text = body.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class TestClient:
    """A minimal in-process ASGI client (starlette's needs a package this venv lacks)."""

    __test__ = False

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, path: str, content: bytes = b"", headers=None) -> Response:
        hdrs = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        hdrs.append((b"content-length", str(len(content)).encode()))
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
            "headers": hdrs, "scheme": "http", "server": ("test", 80), "client": ("t", 1),
            "root_path": "",
        }  # fmt: skip
        sent: list[dict[str, Any]] = []
        chunks = [content[i : i + 65536] for i in range(0, len(content), 65536)] or [b""]

        async def receive() -> dict[str, Any]:
            if chunks:
                c = chunks.pop(0)
                return {"type": "http.request", "body": c, "more_body": bool(chunks)}
            return {"type": "http.disconnect"}

        async def send(msg: dict[str, Any]) -> None:
            sent.append(msg)

        asyncio.run(self.app(scope, receive, send))
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return Response(status, body)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, json: Any = None, content: bytes | None = None, headers=None):
        if content is None:
            content = _json.dumps(json).encode()
            headers = {"content-type": "application/json"}
        return self.request("POST", path, content, headers)


@pytest.fixture(scope="module")
def client() -> TestClient:
    store = ModelStore(FakeSource())
    store.refresh()
    scorer = Scorer(StaticFeatures({}), ScoringConfig(max_batch=3))
    return TestClient(make_api(Runtime(scorer, store, lambda: True)))


def test_score_and_batch(client: TestClient) -> None:
    r = client.post("/fraud/score", json=sample_transaction(1))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"transaction_id", "fraud_probability", "decision", "reasons",
                         "model_version", "latency_ms"}  # fmt: skip
    assert body["model_version"] == "1" and len(body["reasons"]) == 3
    r = client.post(
        "/fraud/score/batch", json={"transactions": [sample_transaction(i) for i in (2, 3)]}
    )
    assert r.status_code == 200 and [s["transaction_id"] for s in r.json()["scores"]] == [
        "T000000000002", "T000000000003",
    ]  # fmt: skip
    r = client.post(
        "/fraud/score/batch", json={"transactions": [sample_transaction(i) for i in range(4)]}
    )
    assert r.status_code == 413 and r.json()["fields"][0]["field"] == "transactions"
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/model").json()["run_id"] == "run1"
    assert "/fraud/score" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"amount": "-5.00"}, 422, "amount"),
        ({"amount": "0"}, 422, "amount"),
        ({"amount": "abc"}, 422, "amount"),
        ({"amount": True}, 422, "amount"),
        ({"currency": "XYZ"}, 422, "currency"),
        ({"timestamp": "2025-01-01T00:00:00"}, 422, "timestamp"),
        ({"timestamp": "yesterday"}, 422, "timestamp"),
        ({"channel": "fax"}, 422, "channel"),
        ({"mcc": 12}, 422, "mcc"),
        ({"merchant_country": "XX"}, 422, "merchant_country"),
        ({"card_id": 7}, 422, "card_id"),
        ({"transaction_id": None}, 422, "transaction_id"),
    ],
)
def test_bad_fields_are_422_with_the_field(client: TestClient, change, status, field) -> None:
    r = client.post("/fraud/score", json=sample_transaction(1) | change)
    assert r.status_code == status, r.text
    assert field in [f["field"] for f in r.json()["fields"]]


def test_missing_field_invalid_json_and_oversized(client: TestClient) -> None:
    t = sample_transaction(1)
    del t["customer_id"]
    r = client.post("/fraud/score", json=t)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "customer_id"
    r = client.post(
        "/fraud/score", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    r = client.post("/fraud/score", content=b"[1, 2]", headers={"content-type": "application/json"})
    assert r.status_code == 422
    big = b"x" * (MAX_BODY_BYTES + 1)
    r = client.post("/fraud/score", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    bad_item = {"transactions": [sample_transaction(1), sample_transaction(2, amount="-1")]}
    r = client.post("/fraud/score/batch", json=bad_item)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "transactions.1.amount"
    assert client.post("/fraud/score", json=sample_transaction(9)).status_code == 200


def test_health_503_without_model() -> None:
    c = TestClient(make_api(None))
    assert c.get("/health").status_code == 503
    assert c.post("/fraud/score", json=sample_transaction(1)).status_code == 503


def test_the_replica_batcher_scores_single_requests() -> None:
    """With ``score_one`` set (the replica's @serve.batch method), /fraud/score goes through it."""
    store = ModelStore(FakeSource())
    store.refresh()
    scorer = Scorer(StaticFeatures({}), ScoringConfig())
    calls: list[int] = []

    async def score_one(txn):  # type: ignore[no-untyped-def]
        calls.append(1)  # @serve.batch hands a list to the method and one result back
        return scorer.score([txn], store.current)[0]

    client = TestClient(make_api(Runtime(scorer, store, lambda: True, score_one)))
    r = client.post("/fraud/score", json=sample_transaction(5))
    assert r.status_code == 200 and r.json()["transaction_id"] == "T000000000005"
    assert calls == [1]
