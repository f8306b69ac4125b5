"""The dashboard in headless Chromium: log in with password and TOTP, open every tab, and check
that the charts drew the numbers the API returns; screenshots go to docs/screenshots/.

The API serves HTTPS with the dev certificate on a free port over the small API lake
(``tests/unit/api_lake.py``); the fraud tab reads scores and alerts produced to two Kafka
topics of this test's own (uuid names) on the session broker.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ray_platform.api import start_background
from ray_platform.api.fraud import FraudFeed
from ray_platform.governance import auth
from ray_platform.services.browser import Browser
from ray_platform.services.kafka import KafkaBroker
from ray_platform.settings import Settings, load_settings
from ray_platform.streaming import produce
from tests.unit import api_lake

pytestmark = pytest.mark.integration
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "correct horse battery staple"
WAIT_S = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def topics(kafka_broker: KafkaBroker) -> Iterator[tuple[str, str]]:
    from kafka.admin import KafkaAdminClient, NewTopic

    tag = uuid.uuid4().hex[:8]
    names = (f"{tag}-fraud-scores", f"{tag}-fraud-alerts")
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    admin.create_topics([NewTopic(n, 2, 1) for n in names])
    try:
        yield names
    finally:
        admin.delete_topics(list(names))
        admin.close()


@pytest.fixture(scope="module")
def server(topics: tuple[str, str]) -> Iterator[tuple[Settings, str]]:
    lake = api_lake.build()
    s = load_settings(home=lake.home, api_address=f"127.0.0.1:{_free_port()}")
    scores, alerts = topics
    decisions = {"T1": "decline", "T2": "review", "T3": "review", "T4": "decline",
                 "T5": "review", "T6": "review"}  # fmt: skip
    results = [
        {"transaction_id": t, "fraud_probability": 0.55 + 0.07 * i, "decision": d,
         "model_version": "12", "reasons": [], "latency_ms": 1.0}
        for i, (t, d) in enumerate(decisions.items())
    ] + [
        {"transaction_id": f"OK{i}", "fraud_probability": 0.013 * i, "decision": "approve",
         "model_version": "12", "reasons": [], "latency_ms": 1.0}
        for i in range(30)
    ]  # fmt: skip
    produce(scores, [(r["transaction_id"].encode(), json.dumps(r).encode()) for r in results], s)
    produce(alerts, [(r["transaction_id"].encode(), json.dumps(r).encode())
                     for r in results if r["decision"] != "approve"], s)  # fmt: skip
    running = start_background(s, tls=True, feed=FraudFeed(s, scores, alerts))
    try:
        yield s, running.url.removesuffix("/dashboard")
    finally:
        running.stop()


def _api(s: Settings, base: str, path: str, token: str) -> Any:
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, context=auth.client_context(s), timeout=30) as r:
        return json.loads(r.read())


def _wait(what: str, check: Any, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if got := check():
                return got
        except Exception:  # the page is still being redrawn
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _login(browser: Browser, s: Settings, base: str, role: str) -> str:
    from selenium.webdriver.common.by import By

    user = f"{role}-{uuid.uuid4().hex[:6]}"
    secret = auth.add_user(user, PASSWORD, role, s)
    d = browser.driver
    d.get(base + "/dashboard")
    d.execute_script("sessionStorage.clear()")
    d.get(base + "/dashboard")
    d.find_element(By.ID, "user").send_keys(user)
    d.find_element(By.ID, "password").send_keys(PASSWORD)
    d.find_element(By.ID, "code").send_keys(api_lake.totp_now(secret))
    d.find_element(By.ID, "signin").click()
    _wait("the signed-in header", lambda: d.find_element(By.ID, "who").text.startswith(user))
    assert not d.find_element(By.ID, "login").is_displayed()
    return str(d.execute_script("return sessionStorage.getItem('gbank-token')"))


def _open(browser: Browser, tab: str) -> int:
    """Click a tab and wait for its first drawing; the refresh count then."""
    from selenium.webdriver.common.by import By

    d = browser.driver
    d.find_element(By.ID, f"tab-{tab}").click()

    def drawn() -> int:
        el = d.find_element(By.ID, "updated")
        ok = el.get_attribute("data-tab") == tab and d.find_elements(By.ID, f"panel-{tab}")
        return int(el.get_attribute("data-refreshes")) if ok else 0

    return _wait(f"the {tab} tab", drawn)


def _refreshes(browser: Browser) -> int:
    return int(browser.driver.find_element("id", "updated").get_attribute("data-refreshes"))


def _attrs(browser: Browser, css: str, *names: str) -> list[tuple[str, ...]]:
    from selenium.webdriver.common.by import By

    els = browser.driver.find_elements(By.CSS_SELECTOR, css)
    return [tuple(e.get_attribute(n) for n in names) for e in els]


def test_each_tab_draws_the_numbers_the_api_returns(
    browser: Browser, server: tuple[Settings, str]
) -> None:
    s, base = server
    token = _login(browser, s, base, "data_engineer")
    tabs = [b[0] for b in _attrs(browser, "#tabs button", "data-tab")]
    assert tabs == ["fraud", "risk", "data"]
    SHOTS.mkdir(parents=True, exist_ok=True)

    # fraud: wait until the Kafka feed is in the page (the first read may precede the topics)
    n = _open(browser, "fraud")
    fraud = _wait("fraud numbers", lambda: (f := _api(s, base, "/api/dashboard/fraud", token))
                  ["score_distribution"] and sum(b["count"] for b in f["score_distribution"])
                  and f)  # fmt: skip
    _wait("a redraw", lambda: _refreshes(browser) > n)
    assert fraud["precision"]["value"] == 0.75 and fraud["review_queue"]["size"] == 2
    assert fraud["model"]["version"] == "12"
    bars = _attrs(browser, "#chart-score_distribution .bar", "data-value")
    assert [int(v[0]) for v in bars] == [b["count"] for b in fraud["score_distribution"]]
    hours = _attrs(browser, "#chart-alerts_per_hour .bar", "data-label", "data-value")
    assert [(h, int(v)) for h, v in hours] == [
        (h["hour"], h["alerts"]) for h in fraud["alerts_per_hour"]
    ]
    assert _attrs(browser, "[data-metric=precision]", "data-value") == [("0.75",)]
    assert _attrs(browser, "[data-metric=review_queue]", "data-value") == [("2",)]
    assert browser.driver.find_element("css selector", "[data-metric=model_version]").text == "12"
    browser.driver.save_screenshot(str(SHOTS / "dashboard-fraud.png"))

    # risk: every VaR point, every stress bar and every traffic light
    _open(browser, "risk")
    risk = _api(s, base, "/api/dashboard/risk", token)
    points = _attrs(browser, "#chart-var_trend .point", "data-series", "data-label", "data-value")
    assert sorted((k, d, float(v)) for k, d, v in points) == sorted(
        (r["desk"], r["as_of"], r["var"]) for r in risk["var_trend"]["rows"]
    )
    assert len(points) == len(api_lake.VAR)
    stress = _attrs(browser, "#chart-stress .bar", "data-label", "data-value")
    assert [(n, float(v)) for n, v in stress] == [
        (r["scenario"], r["pnl"]) for r in risk["stress"]["rows"]
    ]
    zones = [z[0] for z in _attrs(browser, "#table-backtest [data-zone]", "data-zone")]
    assert zones == [r["zone"] for r in risk["backtest"]["rows"]]
    assert set(zones) == {"green", "amber", "red"}
    browser.driver.save_screenshot(str(SHOTS / "dashboard-risk.png"))

    # data: freshness bars, check results and DAG runs
    _open(browser, "data")
    data = _api(s, base, "/api/dashboard/data", token)
    fresh = _attrs(browser, "#chart-freshness .bar", "data-label", "data-value")
    assert [(t, float(v)) for t, v in fresh] == [
        (r["table"], r["metric"]) for r in data["quality"]["rows"] if r["check"] == "freshness"
    ]
    passed = [p[0] for p in _attrs(browser, "#table-quality [data-passed]", "data-passed")]
    assert passed == [str(r["passed"]).lower() for r in data["quality"]["rows"]]
    runs = [r[0] for r in _attrs(browser, "#table-dag_runs [data-status]", "data-status")]
    assert runs == [r["status"] for r in data["dag_runs"]["rows"]] == ["failed", "succeeded"]
    browser.driver.save_screenshot(str(SHOTS / "dashboard-data.png"))

    # auto-refresh: a new drawing within 5 s
    t0, seen = time.monotonic(), _refreshes(browser)
    _wait("the next refresh", lambda: _refreshes(browser) > seen, 5.0)
    assert time.monotonic() - t0 < 5.0


def test_a_business_user_sees_only_what_the_role_may_read(
    browser: Browser, server: tuple[Settings, str]
) -> None:
    s, base = server
    token = _login(browser, s, base, "business_user")
    assert [b[0] for b in _attrs(browser, "#tabs button", "data-tab")] == ["risk"]
    _open(browser, "risk")
    risk = _api(s, base, "/api/dashboard/risk", token)
    assert "denied" in risk["stress"] and "denied" in risk["backtest"]
    denied = _attrs(browser, "[data-denied]", "data-denied")
    assert len(denied) == 2
    assert not _attrs(browser, "#chart-var_trend .point", "data-value")  # VaR is redacted
    browser.driver.save_screenshot(str(SHOTS / "dashboard-business-user.png"))
    with pytest.raises(urllib.error.HTTPError) as err:
        _api(s, base, "/api/dashboard/fraud", token)
    assert err.value.code == 403
