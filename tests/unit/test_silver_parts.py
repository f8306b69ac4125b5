"""A file split into parts gives exactly what the whole file gives (silver_parts)."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from ray_platform.contracts.silver import CARD_TRANSACTIONS
from ray_platform.lake.parse import Parsed, line_array
from ray_platform.lake.silver_file import Context, process_file
from ray_platform.lake.silver_parts import from_blocks, merge_parts, to_block

pytestmark = pytest.mark.unit
DAY = dt.date(2026, 1, 5)


def _line(i: int, **over: object) -> str:
    rec = {
        "transaction_id": f"T{i:06}", "card_id": "CRD1", "account_id": "A1",
        "customer_id": f"C{i % 7}", "merchant_id": "M1", "merchant_name": "Shop", "mcc": "5411",
        "merchant_country": "GB", "amount": "12.50", "currency": "GBP",
        "timestamp": "2026-01-05T10:00:00Z", "channel": "pos", "device_id": "D1",
        "ip_country": "GB", "is_fraud": 0, "fraud_pattern": None,
    }  # fmt: skip
    return json.dumps({**rec, **over})


def _file() -> bytes:
    lines = [_line(i) for i in range(60)]
    lines[5] = "{not json"
    lines[7] = ""
    lines[20] = _line(3)  # a repeat of a key from the first part
    lines[41] = _line(3, amount="13.00")  # and another, with a different payload
    lines[30] = _line(30, amount="-1.00")
    lines[50] = _line(2)  # repeats line 3's key, in the last part
    return ("\n".join(lines) + "\n").encode()


def _ctx() -> Context:
    known = {"cards.card_id": ["CRD1"], "accounts.account_id": ["A1"]}
    customers = [f"C{i}" for i in range(7)]
    return Context("r", DAY.isoformat(), "EUR", b"k" * 32, known={
        **{k: pa.array(v) for k, v in known.items()}, "customers.customer_id": pa.array(customers)
    })  # fmt: skip


def _payload(data: bytes):
    lines = Parsed(pa.table({}), [], lines=line_array(data))
    return lambda path, record: lines.raw(record)


def _quarantine(out):
    return sorted((q["record"], q["rule"], q["reason"], q["payload"]) for q in out.quarantine)


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_parts_give_the_whole_file(parts):
    data, ctx = _file(), _ctx()
    whole = process_file(CARD_TRANSACTIONS, "f.jsonl", data, DAY, ctx)
    blocks = [
        to_block(process_file(CARD_TRANSACTIONS, "f.jsonl", data, DAY, ctx, part=k, parts=parts))
        for k in range(parts)
    ]
    [merged] = merge_parts(CARD_TRANSACTIONS, from_blocks(blocks), ctx, _payload(data))
    assert merged.read == whole.read
    assert _quarantine(merged) == _quarantine(whole)
    assert {q[1] for q in _quarantine(whole)} >= {"duplicate_id", "malformed_row"}
    assert merged.good.equals(whole.good)


def test_a_bad_byte_in_any_part_quarantines_the_whole_file():
    data = _file()
    bad = data[: len(data) - 30] + b"\xff" + data[len(data) - 29 :]
    ctx = _ctx()
    whole = process_file(CARD_TRANSACTIONS, "f.jsonl", bad, DAY, ctx)
    outs = [process_file(CARD_TRANSACTIONS, "f.jsonl", bad, DAY, ctx, part=k, parts=3)
            for k in range(3)]  # fmt: skip
    [merged] = merge_parts(CARD_TRANSACTIONS, outs, ctx, _payload(data))
    assert merged.malformed_file == whole.malformed_file
    assert (merged.read, merged.quarantine) == (whole.read, whole.quarantine)
