"""The tamper-evident audit trail: one hash-chained JSON-lines file per platform home.

Every data access (allowed or denied), job run, model promotion, alias switch, erasure and
authentication failure is appended as one :class:`AuditRecord`. Each record carries the SHA-256
of the previous record (``prev_hash``; 64 zeros for the first) and its own ``hash``, computed over
the canonical JSON of every other field, ``seq`` and ``prev_hash`` included. Editing a field,
removing a record or reordering records therefore breaks the chain at a place
:meth:`AuditTrail.verify` can name.

A chain alone cannot catch someone who rewrites the file from the edited record to the end, nor
someone who cuts the tail off. So every append also writes the newest ``seq`` and ``hash`` to a
*head* file beside the log (``<home>/audit/head``), and ``verify`` checks that the log still
holds that record. The head sits on the same disk, so it defeats a careless edit or a truncation,
not an attacker who rewrites both files: for that, copy the head elsewhere (``gbank audit head``
into a ticket, a WORM bucket or another system's log) and pass it back to ``verify(anchor=...)``.

Writers in several processes at once (Ray jobs, the CLI, serving replicas) take an exclusive
``flock`` on the log around read-last-record, append, ``fsync`` and head update, so the chain
never forks or interleaves. An append reads only the last line, not the file. The log must live
on a file system where ``flock`` works across all writers (a local disk, or one shared volume).

Example::

    trail = audit_trail()
    trail.append("access", actor="alice", role="analyst", outcome="denied",
                 dataset="silver/customers", columns=["iban"], reason="pii not allowed")
    result = trail.verify()
    assert result.ok, result.message
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ray_platform.errors import InvalidArgument, TamperDetected
from ray_platform.settings import Settings, get_settings

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first record."""

EVENTS = frozenset(
    {"access", "job_run", "model_promotion", "alias_switch", "erasure", "auth", "key_management"}
)
"""Known event kinds; :meth:`AuditTrail.append` accepts others too (they are only names)."""

Outcome = Literal["allowed", "denied", "ok", "failed"]
OUTCOMES: frozenset[str] = frozenset({"allowed", "denied", "ok", "failed"})

Problem = Literal[
    "edited", "removed", "reordered", "broken_chain", "unreadable", "truncated", "head_mismatch"
]

_FIELDS = ("seq", "time", "event", "actor", "role", "outcome", "details", "prev_hash", "hash")
_TAIL_CHUNK = 8192


def canonical_json(obj: Any) -> bytes:
    """The byte form the hashes are taken over: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of a record's fields without its own ``hash``."""
    body = {k: v for k, v in fields.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audited event, as stored (one JSON object per line)."""

    seq: int
    time: str  # UTC, ISO 8601 with microseconds
    event: str
    actor: str
    role: str | None
    outcome: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    @property
    def timestamp(self) -> dt.datetime:
        """:attr:`time` as an aware datetime."""
        return dt.datetime.fromisoformat(self.time)

    def to_json(self) -> str:
        """The record's stored line (without the newline)."""
        # Field order for people reading the file; the hash uses the canonical (sorted) form.
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> AuditRecord:
        """Build from a parsed line; raises ``ValueError`` when fields are missing or extra."""
        if not isinstance(fields, dict) or set(fields) != set(_FIELDS):
            raise ValueError("not an audit record (wrong fields)")
        seq = fields["seq"]
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ValueError(f"seq {seq!r} is not a record number")
        texts = ("time", "event", "actor", "outcome", "prev_hash", "hash")
        if not all(isinstance(fields[k], str) for k in texts):
            raise ValueError("a text field is not text")
        if not isinstance(fields["details"], dict) or not isinstance(fields["role"], str | None):
            raise ValueError("details or role has the wrong type")
        return cls(**fields)


@dataclass(frozen=True)
class VerifyResult:
    """What :meth:`AuditTrail.verify` found: ``ok``, or the first bad record and why."""

    ok: bool
    count: int  # records (lines) in the log
    first_bad_seq: int | None = None
    problem: Problem | None = None
    message: str = ""
    head: tuple[int, str] | None = field(default=None)  # last good (seq, hash)

    def raise_if_bad(self) -> None:
        """Raise :class:`TamperDetected` with the message when the trail failed."""
        if not self.ok:
            raise TamperDetected(self.message)


@dataclass(frozen=True)
class _Line:
    """A parsed log line, kept light for verification."""

    lineno: int
    record: AuditRecord | None
    self_ok: bool


class AuditTrail:
    """The append-only, hash-chained audit log at ``path`` (head anchor beside it)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.head_path = self.path.with_name("head")

    def __repr__(self) -> str:
        return f"AuditTrail({str(self.path)!r})"

    # -- writing -------------------------------------------------------------------------------

    def append(
        self,
        event: str,
        *,
        actor: str,
        role: str | None = None,
        outcome: Outcome = "ok",
        **details: Any,
    ) -> AuditRecord:
        """Append one event and return the stored record (durable when this returns).

        ``details`` hold what the event is about (``dataset``, ``columns``, ``query``,
        ``reason``, ``job``, ``version``...); values must be JSON-serialisable, or are stored as
        their ``str``.
        """
        if not event or not isinstance(event, str):
            raise InvalidArgument("audit event must be a non-empty string")
        if outcome not in OUTCOMES:
            raise InvalidArgument(
                f"audit outcome must be one of {sorted(OUTCOMES)}, not {outcome!r}"
            )
        if not actor:
            raise InvalidArgument("audit records need an actor")
        # Round-trip so the stored details are exactly what was hashed (tuples become lists...).
        clean = json.loads(json.dumps(details, default=str))
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = _last_record(fd)
            fields: dict[str, Any] = {
                "seq": 0 if last is None else last.seq + 1,
                "time": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
                "event": event,
                "actor": str(actor),
                "role": None if role is None else str(role),
                "outcome": outcome,
                "details": clean,
                "prev_hash": GENESIS_HASH if last is None else last.hash,
            }
            fields["hash"] = record_hash(fields)
            record = AuditRecord(**fields)
            _write_all(fd, (record.to_json() + "\n").encode())
            os.fsync(fd)
            self._write_head(record)
            return record
        finally:
            os.close(fd)  # closing releases the lock

    def _write_head(self, record: AuditRecord) -> None:
        # Written after the log is durable; a crash in between leaves the head one behind, which
        # verify accepts (the head is a lower bound on the log's length, not a copy of it).
        tmp = self.head_path.with_name(f"head.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"seq": record.seq, "hash": record.hash}) + "\n")
        os.replace(tmp, self.head_path)

    # -- reading -------------------------------------------------------------------------------

    def head(self) -> tuple[int, str] | None:
        """The anchored newest ``(seq, hash)``, or None before the first append."""
        head = _read_head(self.head_path)
        if isinstance(head, str):
            raise TamperDetected(f"audit head file {self.head_path} {head}")
        return head

    def _snapshot(self) -> tuple[int, tuple[int, str] | str | None]:
        """Log size and head read together under a shared lock, so they agree."""
        if not self.path.exists():
            return 0, _read_head(self.head_path)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return os.fstat(fd).st_size, _read_head(self.head_path)
        finally:
            os.close(fd)

    def _lines(self, size: int) -> Iterator[tuple[int, bytes]]:
        """``(line number, bytes)`` of the first ``size`` bytes (appends after that are ignored)."""
        if size == 0:
            return
        with self.path.open("rb") as f:
            remaining = size
            for lineno, raw in enumerate(f, start=1):
                if remaining <= 0:
                    return
                chunk = raw[:remaining]
                remaining -= len(raw)
                yield lineno, chunk

    def records(self) -> Iterator[AuditRecord]:
        """Every record, oldest first (unreadable lines raise :class:`TamperDetected`)."""
        size, _ = self._snapshot()
        for lineno, raw in self._lines(size):
            try:
                yield AuditRecord.from_fields(json.loads(raw))
            except (ValueError, TypeError) as exc:
                raise TamperDetected(
                    f"audit trail {self.path} line {lineno} is unreadable ({exc}); "
                    "run `gbank audit verify`"
                ) from None

    def query(
        self,
        *,
        event: str | None = None,
        actor: str | None = None,
        outcome: str | None = None,
        dataset: str | None = None,
        since: dt.datetime | dt.date | str | None = None,
        until: dt.datetime | dt.date | str | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        """Records matching every given filter, oldest first.

        ``since`` is inclusive and ``until`` exclusive; a bare date means that day's midnight
        UTC for ``since`` and the next midnight for ``until``, so ``since=until=D`` is day D.
        Naive datetimes are taken as UTC. ``limit`` keeps the newest ``limit`` matches.
        """
        lo = _instant(since, end=False) if since is not None else None
        hi = _instant(until, end=True) if until is not None else None
        found = []
        for rec in self.records():
            if event is not None and rec.event != event:
                continue
            if actor is not None and rec.actor != actor:
                continue
            if outcome is not None and rec.outcome != outcome:
                continue
            if dataset is not None and rec.details.get("dataset") != dataset:
                continue
            if lo is not None or hi is not None:
                t = rec.timestamp
                if (lo is not None and t < lo) or (hi is not None and t >= hi):
                    continue
            found.append(rec)
        return found[-limit:] if limit else found

    # -- verification --------------------------------------------------------------------------

    def verify(self, anchor: tuple[int, str] | None = None) -> VerifyResult:
        """Check the whole chain and the head; name the first bad record and why.

        ``anchor`` is a ``(seq, hash)`` kept outside this machine (``gbank audit head``); it is
        checked like the head file, and catches a rewrite of both the log and the head.
        """
        size, head = self._snapshot()
        lines: list[_Line] = []
        for lineno, raw in self._lines(size):
            try:
                fields = json.loads(raw)
                rec = AuditRecord.from_fields(fields)
                self_ok = isinstance(rec.hash, str) and record_hash(fields) == rec.hash
            except (ValueError, TypeError):
                rec, self_ok = None, False
            lines.append(_Line(lineno, rec, self_ok))
        count = len(lines)
        seqs_after = _SuffixSeqs(lines)
        prev: AuditRecord | None = None
        for i, line in enumerate(lines):
            expected = 0 if prev is None else prev.seq + 1
            rec = line.record
            if rec is None:
                return self._bad(
                    count, expected, "unreadable", f"line {line.lineno} is not a record", prev
                )
            if not line.self_ok:
                return self._bad(
                    count,
                    rec.seq,
                    "edited",
                    f"record {rec.seq} (line {line.lineno}) was edited: its hash does not match "
                    "its content",
                    prev,
                )
            if rec.seq < expected:  # a copy of an earlier record, or one moved back
                what = (
                    f"record {rec.seq} appears again after record {expected - 1} "
                    f"(line {line.lineno})"
                )
                return self._bad(count, rec.seq, "reordered", what, prev)
            if rec.seq > expected:
                if expected in seqs_after[i]:
                    what = (
                        f"record {expected} is out of order: record {rec.seq} is in its place "
                        f"(line {line.lineno})"
                    )
                    return self._bad(count, expected, "reordered", what, prev)
                gap = f"{expected}" if rec.seq == expected + 1 else f"{expected}-{rec.seq - 1}"
                after = "the start" if prev is None else f"record {prev.seq}"
                what = f"record {gap} removed: record {rec.seq} follows {after}"
                return self._bad(count, expected, "removed", what, prev)
            want_prev = GENESIS_HASH if prev is None else prev.hash
            if rec.prev_hash != want_prev:
                return self._bad(
                    count,
                    rec.seq,
                    "broken_chain",
                    f"record {rec.seq} does not link to "
                    f"{'the genesis hash' if prev is None else f'record {prev.seq}'} "
                    "(one of them was rewritten)",
                    prev,
                )
            prev = rec
        last = None if prev is None else (prev.seq, prev.hash)
        by_seq = {ln.record.seq: ln.record.hash for ln in lines if ln.record is not None}
        for name, mark in (("head file", head), ("anchor", anchor)):
            if mark is None:
                if name == "head file" and count:
                    what = f"the head file {self.head_path} is missing (deleted with the tail?)"
                    return self._bad(count, None, "head_mismatch", what, prev)
                continue
            if isinstance(mark, str):
                return self._bad(count, None, "head_mismatch", f"the {name} {mark}", prev)
            seq, digest = mark
            if seq not in by_seq:
                first = 0 if prev is None else prev.seq + 1
                ends = "empty" if prev is None else f"at record {prev.seq}"
                what = (
                    f"records {first}-{seq} were cut off: the {name} says the trail reaches "
                    f"record {seq}, the log ends {ends}"
                )
                return self._bad(count, first, "truncated", what, prev)
            if by_seq[seq] != digest:
                what = (
                    f"record {seq} does not match the {name}: the trail was rewritten at or "
                    f"before record {seq}"
                )
                return self._bad(count, seq, "head_mismatch", what, prev)
        n = "no records" if not count else f"{count} records, head {prev.seq} {prev.hash[:16]}"
        return VerifyResult(True, count, message=f"audit trail intact: {n}", head=last)

    def _bad(
        self,
        count: int,
        seq: int | None,
        problem: Problem,
        what: str,
        prev: AuditRecord | None,
    ) -> VerifyResult:
        last = None if prev is None else (prev.seq, prev.hash)
        message = f"audit trail {self.path} tampered: {what}"
        return VerifyResult(False, count, seq, problem, message, last)


def audit_trail(settings: Settings | None = None) -> AuditTrail:
    """The platform's audit trail, ``<home>/audit/audit.jsonl``."""
    settings = settings or get_settings()
    return AuditTrail(settings.home / "audit" / "audit.jsonl")


# -- helpers -----------------------------------------------------------------------------------


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _last_record(fd: int) -> AuditRecord | None:
    """The last record of an open log, read backwards from the end (not the whole file)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    if os.pread(fd, 1, size - 1) != b"\n":
        raise TamperDetected("the audit trail's last line is incomplete; run `gbank audit verify`")
    end, buf = size - 1, b""
    while True:
        start = max(0, end - _TAIL_CHUNK)
        buf = os.pread(fd, end - start, start) + buf
        end = start
        cut = buf.rfind(b"\n")
        if cut >= 0 or start == 0:
            line = buf[cut + 1 :]
            break
    try:
        return AuditRecord.from_fields(json.loads(line))
    except (ValueError, TypeError):
        raise TamperDetected(
            "the audit trail's last record is unreadable; run `gbank audit verify`"
        ) from None


def _read_head(path: Path) -> tuple[int, str] | str | None:
    """``(seq, hash)``; None when there is no head; a description when it is unreadable."""
    try:
        data = json.loads(path.read_text())
        return int(data["seq"]), str(data["hash"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return "is unreadable"


class _SuffixSeqs:
    """``suffix[i]``: the seqs of readable records at positions >= i.

    Computed only when asked, which happens once, on a fault, so a clean verify stays linear.
    """

    def __init__(self, lines: list[_Line]) -> None:
        self._lines = lines

    def __getitem__(self, i: int) -> set[int]:
        return {ln.record.seq for ln in self._lines[i:] if ln.record is not None}


def _instant(value: dt.datetime | dt.date | str, *, end: bool) -> dt.datetime:
    """A query bound as an aware UTC datetime (see :meth:`AuditTrail.query`)."""
    if isinstance(value, str):
        try:
            value = (
                dt.date.fromisoformat(value)
                if len(value) == 10
                else dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            )
        except ValueError:
            raise InvalidArgument(f"not an ISO date or time: {value!r}") from None
    if not isinstance(value, dt.datetime):
        day = value + dt.timedelta(days=1) if end else value
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
