"""Model calls into a real warehouse the way the service stores them, without a server:
OTLP/JSON through the collector's decoder, `insert_spans` in batches, then the attribution,
pricing and rollup jobs. For tests and benches that need priced history (the
reconciliation's span side) in seconds."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import duckdb

from collector.ingest.normalize import Normalizer
from collector.ingest.traces.decode import JSON, decode_traces
from sample_data.bills import BilledCall
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.pricing import job as pricing
from warehouse.rollups import job as rollups
from warehouse.spans import attribution
from warehouse.spans.insert import insert_spans, last_batch_id

BATCH = 2000


def _attribute(key: str, value: str | int) -> dict[str, Any]:
    if isinstance(value, str):
        return {"key": key, "value": {"stringValue": value}}
    return {"key": key, "value": {"intValue": str(value)}}


def _nanos(instant: dt.datetime) -> int:
    moment = instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def span(number: int, call: BilledCall) -> dict[str, Any]:
    """One chat span (its own trace) of `call`, with the current GenAI attribute names."""
    attributes: dict[str, str | int] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": call.provider,
        "gen_ai.request.model": call.model,
        "gen_ai.usage.input_tokens": call.input_tokens,
        "gen_ai.usage.output_tokens": call.output_tokens,
    }
    if call.cache_read_tokens:
        attributes["gen_ai.usage.cache_read.input_tokens"] = call.cache_read_tokens
    if call.cache_write_tokens:
        attributes["gen_ai.usage.cache_creation.input_tokens"] = call.cache_write_tokens
    return {
        "traceId": f"{number:032x}",
        "spanId": f"{number:016x}",
        "name": f"chat {call.model}",
        "kind": 3,
        "startTimeUnixNano": str(_nanos(call.start)),
        "endTimeUnixNano": str(_nanos(call.start) + 10**9),
        "attributes": [_attribute(k, v) for k, v in attributes.items()],
    }


def otlp_json(calls: Iterable[BilledCall], first_id: int = 1) -> bytes:
    """An OTLP/JSON export request of `calls`, one chat span each."""
    spans = [span(number, call) for number, call in enumerate(calls, first_id)]
    body = {"resourceSpans": [{"scopeSpans": [{"scope": {"name": "s"}, "spans": spans}]}]}
    return json.dumps(body).encode()


class SpanWarehouse:
    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self.cursor = cursor
        self.normalizer = Normalizer()
        self.next_id = 1

    def ingest(self, calls: Iterable[BilledCall], now: dt.datetime) -> int:
        """Store `calls` as spans (batches of BATCH), then price and roll them up."""
        pending = list(calls)
        for start in range(0, len(pending), BATCH):
            chunk = pending[start : start + BATCH]
            decoded = decode_traces(otlp_json(chunk, self.next_id), JSON, self.normalizer)
            self.next_id += len(chunk)
            if decoded.rejected:
                raise ValueError(decoded.rejection_message)
            self.cursor.begin()
            insert_spans(self.cursor, decoded.table, last_batch_id(self.cursor) + 1, now)
            self.cursor.commit()
        for name in (attribution.NAME, pricing.NAME, rollups.NAME):
            run_job(self.cursor, JOBS[name], now)
        return len(pending)
