"""The hash-chained audit trail: tamper detection, concurrent writers, queries, CLI and hooks."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import multiprocessing

import numpy as np
import pytest
from typer.testing import CliRunner

from ray_platform.cli.audit import app
from ray_platform.errors import InvalidArgument, TamperDetected
from ray_platform.governance.audit import GENESIS_HASH, AuditTrail, audit_trail
from ray_platform.settings import get_settings, load_settings

pytestmark = pytest.mark.unit


@pytest.fixture
def trail(tmp_path) -> AuditTrail:
    return audit_trail(load_settings(home=tmp_path))


@pytest.fixture
def home(tmp_path, monkeypatch):
    """GBANK_HOME for code that reads the process settings (the CLI, jobs, the registry)."""
    monkeypatch.setenv("GBANK_HOME", str(tmp_path))
    monkeypatch.setenv("GBANK_USER", "ops-bot")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def fill(trail: AuditTrail, n: int = 10) -> None:
    for i in range(n):
        trail.append(
            "access",
            actor="alice" if i % 2 else "bob",
            role="analyst",
            outcome="denied" if i % 3 == 0 else "allowed",
            dataset=f"silver/t{i % 4}",
            columns=["iban", "amount"],
            query=f"SELECT iban, amount FROM t{i % 4}",
        )


def lines(trail: AuditTrail) -> list[str]:
    return trail.path.read_text().splitlines(keepends=True)


def write(trail: AuditTrail, rows: list[str]) -> None:
    trail.path.write_text("".join(rows))


def rehash(row: dict) -> dict:
    body = {k: v for k, v in row.items() if k != "hash"}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {**row, "hash": hashlib.sha256(canon.encode()).hexdigest()}


def test_chain_links_every_record_and_verifies(trail):
    fill(trail, 5)
    rows = [json.loads(x) for x in lines(trail)]
    assert [r["seq"] for r in rows] == [0, 1, 2, 3, 4]
    assert rows[0]["prev_hash"] == GENESIS_HASH
    for before, after in itertools.pairwise(rows):
        assert after["prev_hash"] == before["hash"]
    assert all(rehash(r)["hash"] == r["hash"] for r in rows)  # SHA-256 of the canonical JSON
    assert rows[2]["details"]["columns"] == ["iban", "amount"]
    assert dt.datetime.fromisoformat(rows[0]["time"]).utcoffset() == dt.timedelta(0)
    result = trail.verify()
    assert result.ok and result.count == 5 and result.head == (4, rows[4]["hash"])
    assert trail.head() == (4, rows[4]["hash"])


def test_empty_trail_verifies(trail):
    assert trail.verify().ok and trail.verify().count == 0 and list(trail.records()) == []


def test_edited_field_is_named(trail):
    fill(trail)
    rows = lines(trail)
    assert '"outcome":"denied"' in rows[3]
    rows[3] = rows[3].replace('"outcome":"denied"', '"outcome":"allowed"')
    write(trail, rows)
    result = trail.verify()
    assert not result.ok and (result.first_bad_seq, result.problem) == (3, "edited")
    assert "record 3" in result.message
    with pytest.raises(TamperDetected, match="record 3"):
        result.raise_if_bad()


def test_edit_with_recomputed_hash_breaks_the_next_link(trail):
    fill(trail)
    rows = lines(trail)
    forged = json.loads(rows[5])
    forged["actor"] = "mallory"
    rows[5] = json.dumps(rehash(forged)) + "\n"
    write(trail, rows)
    result = trail.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 6, "broken_chain")


def test_removed_record_is_named(trail):
    fill(trail)
    rows = lines(trail)
    del rows[4]
    write(trail, rows)
    result = trail.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 4, "removed")
    del rows[0]  # the first record too: the first bad one is now 0
    write(trail, rows)
    assert (trail.verify().first_bad_seq, trail.verify().problem) == (0, "removed")


def test_swapped_records_are_named(trail):
    fill(trail)
    rows = lines(trail)
    rows[2], rows[3] = rows[3], rows[2]
    write(trail, rows)
    result = trail.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 2, "reordered")


def test_duplicated_record_is_caught(trail):
    fill(trail, 4)
    rows = lines(trail)
    write(trail, [*rows[:3], rows[1], *rows[3:]])
    result = trail.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 1, "reordered")


def test_truncated_tail_is_caught_by_the_head(trail):
    fill(trail)
    write(trail, lines(trail)[:7])  # records 7, 8, 9 cut off; the chain itself still holds
    result = trail.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 7, "truncated")
    assert "7-9" in result.message
    write(trail, [])
    assert (trail.verify().first_bad_seq, trail.verify().problem) == (0, "truncated")


def test_rewritten_tail_is_caught_by_head_then_by_an_outside_anchor(trail):
    fill(trail)
    anchor = trail.head()
    rows = [json.loads(x) for x in lines(trail)]
    prev = rows[5]["prev_hash"]
    for row in rows[5:]:  # a careful forger: every hash and link recomputed from record 5 on
        row["actor"] = "mallory" if row["seq"] == 5 else row["actor"]
        row["prev_hash"] = prev
        row.update(rehash(row))
        prev = row["hash"]
    write(trail, [json.dumps(r) + "\n" for r in rows])
    result = trail.verify()
    assert (result.ok, result.problem, result.first_bad_seq) == (False, "head_mismatch", 9)
    # ...and one who rewrites the head file as well is caught only by a copy kept elsewhere.
    trail.head_path.write_text(json.dumps({"seq": 9, "hash": prev}))
    assert trail.verify().ok
    outside = trail.verify(anchor=anchor)
    assert (outside.ok, outside.problem) == (False, "head_mismatch") and "anchor" in outside.message


def test_deleted_or_garbled_head_fails(trail):
    fill(trail, 3)
    trail.head_path.write_text("not json")
    assert trail.verify().problem == "head_mismatch"
    trail.head_path.unlink()
    result = trail.verify()
    assert not result.ok and "head file" in result.message


def test_head_one_behind_after_a_crash_is_accepted_and_appends_continue(trail):
    fill(trail, 3)
    behind = json.loads(lines(trail)[1])
    trail.head_path.write_text(json.dumps({"seq": 1, "hash": behind["hash"]}))
    assert trail.verify().ok
    rec = trail.append("auth", actor="carol", outcome="failed", reason="wrong TOTP code")
    assert rec.seq == 3 and trail.head() == (3, rec.hash) and trail.verify().ok


def test_garbled_line_is_unreadable_and_stops_appends(trail):
    fill(trail, 3)
    rows = lines(trail)
    rows[1] = "{not json\n"
    write(trail, rows)
    result = trail.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 1, "unreadable")
    write(trail, [*rows[:2], rows[2].rstrip("\n")])  # a torn last line
    with pytest.raises(TamperDetected, match="incomplete"):
        trail.append("access", actor="x")


def test_append_finds_the_last_record_past_a_long_line(trail):
    trail.append("access", actor="a", query="SELECT " + "x, " * 10_000 + "1")  # > read chunk
    rec = trail.append("access", actor="b")
    assert rec.seq == 1 and trail.verify().ok


def test_append_refuses_bad_arguments(trail):
    with pytest.raises(InvalidArgument, match="outcome"):
        trail.append("access", actor="a", outcome="maybe")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="actor"):
        trail.append("access", actor="")
    assert not trail.path.exists()


def _writer(path: str, proc: int, n: int, barrier) -> None:
    t = AuditTrail(path)
    barrier.wait()
    for i in range(n):
        t.append("job_run", actor=f"proc{proc}", job="smoke", n=i)


def test_concurrent_appends_from_processes_give_one_chain(trail):
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_writer, args=(str(trail.path), p, 50, barrier)) for p in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    result = trail.verify()
    assert result.ok and result.count == 200, result.message
    records = list(trail.records())
    assert [r.seq for r in records] == list(range(200))
    for p in range(4):  # each writer's records all there, in its own order
        assert [r.details["n"] for r in records if r.actor == f"proc{p}"] == list(range(50))


def test_query_filters(trail):
    fill(trail, 12)
    trail.append("erasure", actor="dpo", role="privacy_officer", customer_id="C1")
    assert [r.seq for r in trail.query(event="erasure")] == [12]
    assert {r.actor for r in trail.query(actor="alice")} == {"alice"}
    assert [r.seq for r in trail.query(outcome="denied")] == [0, 3, 6, 9]
    assert [r.seq for r in trail.query(dataset="silver/t1", actor="alice")] == [1, 5, 9]
    assert [r.seq for r in trail.query(dataset="silver/t1", limit=2)] == [5, 9]
    today = dt.datetime.now(dt.UTC).date()
    assert len(trail.query(since=today, until=today)) == 13  # a date: that whole day
    day = dt.timedelta(days=1)
    assert trail.query(until=today - day) == [] and trail.query(since=today + day) == []
    cut = trail.query(event="erasure")[0].time
    assert [r.seq for r in trail.query(since=cut)] == [12]
    assert len(trail.query(until=cut)) == 12  # exclusive
    with pytest.raises(InvalidArgument):
        trail.query(since="last tuesday")


def test_cli_verify_exit_codes_and_message(home):
    trail = audit_trail()
    fill(trail, 6)
    runner = CliRunner()
    ok = runner.invoke(app, ["verify"])
    assert ok.exit_code == 0 and "intact: 6 records" in ok.output
    anchor = runner.invoke(app, ["head"]).output.strip()
    assert (
        anchor.startswith("5:")
        and runner.invoke(app, ["verify", "--anchor", anchor]).exit_code == 0
    )
    rows = lines(trail)
    rows[2] = rows[2].replace('"actor":"bob"', '"actor":"eve"')
    write(trail, rows)
    bad = runner.invoke(app, ["verify"])
    assert bad.exit_code == TamperDetected.exit_code == 4
    assert "record 2" in bad.output and "edited" in bad.output
    wrong = runner.invoke(app, ["verify", "--anchor", "5:abc"])
    assert isinstance(wrong.exception, InvalidArgument)


def test_cli_query_filters_and_audits_itself(home):
    trail = audit_trail()
    fill(trail, 6)
    runner = CliRunner()
    out = runner.invoke(app, ["query", "--outcome", "denied", "--json"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(x) for x in out.output.splitlines()]
    assert [r["seq"] for r in rows] == [0, 3] and all(r["outcome"] == "denied" for r in rows)
    table = runner.invoke(app, ["query", "--actor", "alice", "--dataset", "silver/t1"])
    assert table.exit_code == 0 and len(table.output.splitlines()) == 2  # seq 1 and 5
    assert "query=SELECT iban, amount FROM t1" in table.output
    reads = trail.query(dataset="_system/audit")
    assert [(r.actor, r.details["rows"]) for r in reads] == [("ops-bot", 2), ("ops-bot", 2)]
    assert reads[0].details["filters"] == {"outcome": "denied"}
    assert trail.verify().ok
    bad = runner.invoke(app, ["query", "--outcome", "perhaps"])
    assert isinstance(bad.exception, InvalidArgument)


def test_job_runs_are_audited_with_their_outcome(home):
    from ray_platform.jobs._runtime import run_job

    assert run_job("smoke", lambda argv: 0, ["--rows", "10"]) == 0
    assert run_job("smoke", lambda argv: 3, []) == 3
    with pytest.raises(RuntimeError):
        run_job("smoke", lambda argv: (_ for _ in ()).throw(RuntimeError("lake offline")), [])
    recs = audit_trail().query(event="job_run")
    assert [(r.outcome, r.details["exit_code"]) for r in recs] == [
        ("ok", 0),
        ("failed", 3),
        ("failed", 1),
    ]
    assert recs[0].details["args"] == ["--rows", "10"] and recs[0].actor == "ops-bot"
    assert recs[2].details["error"] == "RuntimeError: lake offline"


class _FakeRegistry:
    """The MLflow client calls the registry makes, in memory."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}

    def get_model_version_by_alias(self, name, alias):
        from mlflow.exceptions import MlflowException

        if alias not in self.aliases:
            raise MlflowException(f"no alias {alias}")
        return type("MV", (), {"version": self.aliases[alias]})()

    def set_registered_model_alias(self, name, alias, version):
        self.aliases[alias] = str(version)

    def set_model_version_tag(self, *a):
        pass

    def get_registered_model(self, name):
        return name

    def create_model_version(self, name, uri, run_id, description):
        self.versions = getattr(self, "versions", 0) + 1
        return type("MV", (), {"version": str(self.versions)})()

    def update_model_version(self, *a, **k):
        pass


def test_promotion_and_alias_switches_are_audited(trail, home):
    from models import registry

    c = _FakeRegistry()
    y = np.array([0] * 990 + [1] * 10)
    good = np.where(y == 1, 0.9, 0.01)
    assert registry.register(c, "runs:/r1/model", "r1", audit=trail) == "1"
    assert registry.promote(c, "1", y, good, None, audit=trail).promoted
    assert registry.register(c, "runs:/r2/model", "r2", audit=trail) == "2"
    worse = registry.promote(c, "2", y, np.full(len(y), 0.5), lambda v: good, audit=trail)
    assert not worse.promoted and c.aliases == {"challenger": "2", "champion": "1"}
    recs = trail.records()
    got = [(r.event, r.outcome, r.details.get("alias"), r.details["version"]) for r in recs]
    assert got == [
        ("alias_switch", "ok", "challenger", "1"),
        ("model_promotion", "allowed", None, "1"),
        ("alias_switch", "ok", "champion", "1"),
        ("alias_switch", "ok", "challenger", "2"),
        ("model_promotion", "denied", None, "2"),
    ]
    assert trail.query(event="alias_switch")[2].details["old_version"] == "1"
    denied = trail.query(outcome="denied")[0]
    assert denied.actor == "ops-bot" and denied.details["previous_champion"] == "1"
    assert any("not better" in reason for reason in denied.details["reasons"])


def test_serving_switch_is_audited(trail):
    from serve.model_store import LoadedModel, ModelStore

    class Source:
        version = "1"

        def alias_version(self):
            return self.version

        def load(self, version):
            return LoadedModel("fraud-xgb", version, "champion", f"run{version}", object())

    source = Source()
    store = ModelStore(source, audit=trail)
    assert store.refresh()
    source.version = "2"
    assert store.refresh()
    recs = trail.query(event="alias_switch")
    assert [(r.details["old_version"], r.details["version"]) for r in recs] == [
        (None, "1"),
        ("1", "2"),
    ]
    assert recs[1].details["run_id"] == "run2" and trail.verify().ok
