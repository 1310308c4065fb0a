"""Alert lifecycle and delivery benchmark.

    .venv/bin/python -m bench.alerts [--series 2000] [--notices 300] [--acks 20]

What it does, in order:
1. Lifecycle: `--series` spend series fire at once (signals written by DuckDB SQL, untimed),
   and the registered `alert_lifecycle` job opens their incidents and decides their notices
   (Slack, PagerDuty and webhook configured; severities spread over info / warning /
   critical); the same series fire again an hour later (updates in place, escalations);
   then the job's housekeeping resolves them all. Beside it, in the same run, the bare cost
   of reading those signals and writing one row per signal (`CREATE TABLE AS SELECT`): the
   floor any lifecycle implementation pays.
2. Dispatcher: `--notices` pending webhook notices sent by `AlertDispatcher` to a loopback
   HTTP server (real sockets, real payloads): notices per second, against the same number
   of bare httpx POSTs of the same bodies to the same server.
3. End to end through the real server (`spendscope serve` in a subprocess, PagerDuty
   pointed at a loopback stand-in): `--acks` incidents are acknowledged through the API,
   and the time from the API call to PagerDuty receiving the `acknowledge` event is
   measured (the outbox, the dispatcher's wake-up and the HTTP delivery), p50 and max.

Targets: the lifecycle handles the signals of one detector run of 2,000 firing series in
under 10 s; the dispatcher sends at least 10 notices/s (ten times Slack's limit of one a
second per webhook; each attempt is committed on its own, so that a crash re-sends at most
the one notice in flight, and that commit is most of an attempt's time); an acknowledgement
reaches PagerDuty within 2 s (p50). Exits 1 if one is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry

from collector.alerting.channels.webhook import WebhookChannel
from collector.alerting.dispatcher import AlertDispatcher, DeliveryMetrics
from sample_data.harness.alert_receivers import Receiver
from sample_data.harness.server import ServerProcess
from warehouse.incidents import lifecycle as incidents
from warehouse.incidents.outbox import due
from warehouse.incidents.policy import AlertPolicy, store_policy
from warehouse.jobs.incremental import JOBS, run_job
from warehouse.store.database import Database

T0 = dt.datetime(2026, 11, 2, 10)
SIGNALS_SQL = """
INSERT INTO alert_signals (kind, series, direction, detected_at, window_start, window_end,
                           actual_usd, expected_usd, impact_usd, score, tenant_id, title, details)
SELECT 'spend_anomaly', 'spend:hour:feature=f' || i, 'up', $at, $at - INTERVAL 1 HOUR, $at,
       $impact + i % 500 + 20, 20, $impact + i % 500, 6.5, 'tenant-' || (i % 50),
       'feature f' || i || ' spend far above its usual',
       '{"feature": "f' || i || '", "explanation": {"calls": 0.7, "tokens_per_call": 0.3}}'
FROM range($n) t(i)
"""


def timed(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started


def lifecycle(series: int, root: Path) -> dict[str, float]:
    database = Database.open(root / "lifecycle.duckdb")
    cursor = database.cursor()
    channels = frozenset({"slack", "pagerduty", "webhook"})
    store_policy(cursor, AlertPolicy(channels=channels), T0)
    job = JOBS[incidents.NAME]
    figures: dict[str, float] = {}
    cursor.execute(SIGNALS_SQL, {"at": T0, "impact": 5, "n": series})
    figures["open"] = timed(lambda: run_job(cursor, job, T0))
    later = T0 + dt.timedelta(hours=1)
    cursor.execute(SIGNALS_SQL, {"at": later, "impact": 200, "n": series})
    figures["update"] = timed(lambda: run_job(cursor, job, later))
    figures["bare"] = timed(
        lambda: cursor.execute(
            "CREATE TABLE floor AS SELECT id, kind, series, direction, impact_usd, details"
            " FROM alert_signals WHERE id > ?",
            [series],
        )
    )
    resolve_at = later + AlertPolicy().quiet("spend_anomaly")
    figures["resolve"] = timed(lambda: run_job(cursor, job, resolve_at))
    counts = cursor.execute(
        "SELECT (SELECT count(*) FROM alert_incidents WHERE status = 'resolved'),"
        " (SELECT count(*) FROM alert_outbox)"
    ).fetchone()
    assert counts is not None and counts[0] == series, counts
    figures["notices"] = float(counts[1])
    cursor.close()
    database.close()
    return figures


def dispatcher(notices: int, root: Path) -> dict[str, float]:
    database = Database.open(root / "dispatch.duckdb")
    cursor = database.cursor()
    store_policy(cursor, AlertPolicy(channels=frozenset({"webhook"})), T0)
    cursor.execute(SIGNALS_SQL, {"at": T0, "impact": 20, "n": notices})
    run_job(cursor, JOBS[incidents.NAME], T0)
    receiver = Receiver("webhook").up()
    channel = WebhookChannel(receiver.url("/hook"))
    items = due(cursor, dt.datetime.now(dt.UTC), ["webhook"])
    assert len(items) == notices, len(items)
    bodies = [channel.body(item) for item in items]
    try:
        with httpx.Client() as client:
            bare = timed(lambda: [client.post(channel.url, json=body) for body in bodies])
        sender = AlertDispatcher(database, [channel], DeliveryMetrics(CollectorRegistry()))
        sent = timed(lambda: sender.deliver_due(dt.datetime.now(dt.UTC)))
        sender.stop(5)
    finally:
        receiver.down()
    assert len(receiver.requests) == 2 * notices
    cursor.close()
    database.close()
    return {"rate": notices / sent, "bare_rate": notices / bare}


def acknowledgements(acks: int, root: Path) -> list[float]:
    data_dir = root / "server"
    data_dir.mkdir()
    database = Database.open(data_dir / "spendscope.duckdb")
    cursor = database.cursor()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    cursor.execute(SIGNALS_SQL, {"at": now, "impact": 300, "n": acks})  # critical: paged
    cursor.close()
    database.close()
    pagerduty = Receiver("pagerduty").up()
    env = {
        "SPENDSCOPE_PAGERDUTY_ROUTING_KEY": "b" * 32,
        "SPENDSCOPE_PAGERDUTY_EVENTS_URL": pagerduty.url("/v2/enqueue"),
    }
    delays = []
    try:
        with ServerProcess(data_dir, env=env) as server:
            deadline = time.monotonic() + 60
            while len(pagerduty.requests) < acks and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(pagerduty.requests) == acks, "the triggers did not all arrive"
            for incident_id in range(1, acks + 1):
                before = len(pagerduty.requests)
                started = time.perf_counter()
                answer = server.client.post(
                    f"{server.http_url}/api/v1/alerts/{incident_id}/acknowledge"
                )
                answer.raise_for_status()
                while len(pagerduty.requests) == before:
                    time.sleep(0.002)
                delays.append(time.perf_counter() - started)
            server.stop()
    finally:
        pagerduty.down()
    return delays


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--notices", type=int, default=300)
    parser.add_argument("--acks", type=int, default=20)
    args = parser.parse_args()
    missed = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        life = lifecycle(args.series, root)
        print(f"lifecycle, {args.series} series firing at once ({life['notices']:.0f} notices):")
        print(f"  open      {life['open']:7.2f} s   (bare read+write of the signals "
              f"{life['bare']:.3f} s; x{life['open'] / life['bare']:.0f})")  # fmt: skip
        print(f"  update    {life['update']:7.2f} s")
        print(f"  resolve   {life['resolve']:7.2f} s   target < 10 s each")
        if max(life["open"], life["update"], life["resolve"]) >= 10:
            missed.append("lifecycle")
        sent = dispatcher(args.notices, root)
        print(f"dispatcher: {sent['rate']:.0f} notices/s to a loopback webhook "
              f"(bare httpx POSTs {sent['bare_rate']:.0f}/s; "
              f"{sent['rate'] / sent['bare_rate']:.2f}x)   target >= 10/s")  # fmt: skip
        if sent["rate"] < 10:
            missed.append("dispatcher")
        delays = acknowledgements(args.acks, root)
        p50 = statistics.median(delays)
        print(f"acknowledge -> PagerDuty through the real server: p50 {p50 * 1000:.0f} ms, "
              f"max {max(delays) * 1000:.0f} ms over {len(delays)}   target p50 < 2 s")  # fmt: skip
        if p50 >= 2:
            missed.append("acknowledge latency")
    if missed:
        print(f"MISSED: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
