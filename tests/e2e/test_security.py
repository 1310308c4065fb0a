"""Security promises (docs/reliability.md, "Security"), each held by a test that can fail:

- tokens are compared in constant time, against every configured token;
- no token, webhook URL or routing key reaches the log (at DEBUG) or any API answer, while
  the server takes good and bad tokens on every surface and retries a failing Slack;
- SQL takes values as parameters: every string interpolated into SQL in `collector/` and
  `warehouse/` is a reviewed identifier or fixed fragment (a new one fails here until it
  is reviewed and listed).

Tenant scope on every endpoint is in tests/collector/api/test_costs_api.py (reads and
writes); refusing to listen beyond loopback without tokens in
tests/collector/ingest/test_receivers.py.
"""

from __future__ import annotations

import ast
import datetime as dt
import hmac
import re
from collections.abc import Iterator

import grpc
import pytest

from collector.auth import TokenSet
from sample_data.harness import otlp
from sample_data.harness.alert_receivers import Receiver, failure
from sample_data.harness.server import ServerProcess, free_port
from tests.e2e.test_alerts_e2e import _signal, wait_for
from tests.support.otlp_clients import grpc_export
from tests.support.paths import REPO
from warehouse.detection.signals import record_signals
from warehouse.store.database import Database
from warehouse.store.scope import TenantScope

ROOT = REPO

# --- constant-time comparison -------------------------------------------------------------


def test_every_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[int, int]] = []
    compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)  # the function auth.py calls
    tokens = TokenSet(["first", "second-token"], [("acme", "a" * 64), ("globex", "g")])
    for header in ("Bearer first", "Bearer g", "Bearer " + "a" * 64, "Bearer nope", "Bearer "):
        compared.clear()
        tokens.scope(header)
        # Every configured token, whichever matched, as digests of one length.
        assert compared == [(32, 32)] * 4, header
    assert tokens.scope("Bearer g") == TenantScope("globex")
    assert tokens.scope("Bearer firs") is None and tokens.scope("first") is None


# --- secrets never logged or shown ----------------------------------------------------------

INGEST = "ingest-SECRET-7f3a9c"
ADMIN = "admin-SECRET-1b2c3d"
ACME = "acme-SECRET-4e5f6a"
ROUTING_KEY = "ROUTINGKEYSECRET0123456789abcdef"
SLACK_PATH = "/services/T0/B0/slackSECRETpath"
WEBHOOK_PATH = "/hook/webhookSECRETpath"
GUESS = "guess-SECRET-000000"
SECRETS = (INGEST, ADMIN, ACME, ROUTING_KEY, "slackSECRETpath", "webhookSECRETpath", GUESS)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Receiver]]:
    data_dir = tmp_path_factory.mktemp("security")
    database = Database.open(data_dir / "spendscope.duckdb")
    cursor = database.cursor()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    record_signals(cursor, [_signal("spend:hour:tenant=acme", "900", "acme", now)])
    cursor.close()
    database.close()
    slack = Receiver("slack").up()
    slack.answer(*[failure("slack", 500)] * 3)  # retried: errors that name the request
    env = {
        "SPENDSCOPE_LOG_LEVEL": "DEBUG",
        "SPENDSCOPE_INGEST_TOKENS": INGEST,
        "SPENDSCOPE_API_TOKENS": ADMIN,
        "SPENDSCOPE_TENANT_TOKENS": f"acme:{ACME}",
        "SPENDSCOPE_SLACK_WEBHOOK_URL": slack.url(SLACK_PATH),
        "SPENDSCOPE_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "SPENDSCOPE_PAGERDUTY_EVENTS_URL": f"http://127.0.0.1:{free_port()}/v2/enqueue",
        "SPENDSCOPE_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}{WEBHOOK_PATH}",
        "SPENDSCOPE_ALERT_DELIVERY_POLL_SECONDS": "0.1",
        "SPENDSCOPE_ALERT_RETRY_INITIAL_SECONDS": "0.1",
        "SPENDSCOPE_ALERT_RETRY_MAX_SECONDS": "0.5",
    }
    server = ServerProcess(data_dir, env=env).start()
    try:
        yield server, slack
    finally:
        server.kill()
        slack.down()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


WRONG = [{}, bearer(GUESS), bearer(INGEST + "x"), {"authorization": f"Basic {ADMIN}"},
         {"authorization": ADMIN}]  # fmt: skip


def test_no_secret_reaches_the_log_or_any_answer(
    secured: tuple[ServerProcess, Receiver],
) -> None:
    server, slack = secured
    url, client = server.http_url, server.client
    spans = otlp.request([otlp.span(1, 1, attributes=otlp.MODEL_CALL)]).SerializeToString()
    answers: list[str] = []
    for signal in ("traces", "logs", "metrics"):
        for headers in WRONG:
            response = client.post(
                f"{url}/v1/{signal}",
                content=spans if signal == "traces" else b"",
                headers={"content-type": otlp.PROTOBUF, **headers},
            )
            assert response.status_code == 401, (signal, headers)
            answers.append(response.text)
    ok = client.post(
        f"{url}/v1/traces", content=spans, headers={"content-type": otlp.PROTOBUF, **bearer(INGEST)}
    )
    assert ok.status_code == 200, ok.text
    for metadata in ((), (("authorization", f"Bearer {GUESS}"),)):
        with pytest.raises(grpc.RpcError) as refused:
            grpc_export(server, spans, metadata)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        answers.append(str(refused.value.details()))
    grpc_export(server, spans, (("authorization", f"Bearer {INGEST}"),))

    paths = client.get(f"{url}/openapi.json").json()["paths"]
    readable = [p for p, ops in paths.items() if "get" in ops and "{" not in p]
    assert len(readable) >= 15
    wait_for(lambda: len(slack.requests) >= 2, "failing Slack deliveries")
    for path in readable:
        for headers in (bearer(ADMIN), bearer(ACME), *WRONG):
            response = client.get(f"{url}{path}", headers=headers)
            assert response.status_code < 500, (path, response.text)
            answers.append(response.text)
    alerts = client.get(f"{url}/api/v1/alerts", headers=bearer(ADMIN)).json()["alerts"]
    assert alerts, "the alert fired"
    for alert in alerts:
        answers.append(client.get(f"{url}/api/v1/alerts/{alert['id']}", headers=bearer(ADMIN)).text)
    denied = client.post(f"{url}/api/v1/prices/reload", headers=bearer(ACME))
    assert denied.status_code == 403
    answers += [denied.text, client.get(f"{url}/metrics").text]

    assert server.stop(timeout=30) == 0
    log = server.log_path.read_text(errors="replace")
    # The log is not empty: it tells of the refused requests and the failed deliveries.
    assert "DEBUG" in log and "slack" in log.lower(), log[-3000:]
    everything = "\n".join([log, *answers])
    for secret in SECRETS:
        assert secret not in everything, secret
        assert secret.lower() not in everything.lower(), secret


# --- SQL takes values as parameters -------------------------------------------------------

SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|WHERE|JOIN|VALUES)\b")

# What may be interpolated into SQL text, per module: identifiers from fixed tuples or
# dicts, SQL fragments built from them, and `scope.where(...)` (a `$scope_tenant_id`
# parameter). Never a value: a value is a `$name` or `?` parameter. Reviewed 2026-11.
REVIEWED: dict[str, set[str]] = {
    # The lake's store layer: its catalog and schema names are constants, the metadata
    # tables' names come from DuckLake's own catalog, the sequences' from the migrations.
    "warehouse.store.lake": {"CATALOG", "VIEWS", "metadata", "name"},
    "warehouse.store.lake_ddl": {"match.group(1)", "start - 1"},
    "warehouse.store.numbering": {
        "', '.join(['?'] * (len(columns) + 1))",
        "', '.join(columns)",
        "LAKE_TABLE",
        "ids[0] - 1",
        "select",
        "sequence",
        "table",
    },
    "warehouse.store.upsert": {
        "', '.join(keys)",
        "', '.join((f'new.{k}' for k in keys))",
        "match",
        "names",
        "select",
        "source",
        "table",
    },
    "warehouse.queries.alerts": {
        "', '.join(ATTEMPT_COLUMNS)",
        "', '.join(NOTICE_COLUMNS)",
    },
    "warehouse.queries.anomalies": {
        "kind='kind = $kind' if kind else 'TRUE'",
        "scope=scope.where('tenant_id')",
    },
    "warehouse.spans.attribution": {
        "', '.join(('s.' + d for d in DIMENSIONS))",
        "', '.join(('r.' + d for d in DIMENSIONS))",
        "', '.join(DIMENSIONS[1:])",
        "', '.join((_first(d) for d in DIMENSIONS[1:]))",
        "_first('feature')",
        "_first('feature_default')",
        "column",  # a dimension column name from DIMENSIONS
        "MAX_DEPTH",
        "_INHERIT",
        "_OWN",
    },
    "warehouse.detection.budgets": {
        "condition",
    },
    "warehouse.ledger.seed": {
        "columns=', '.join(rest)",  # the ledger feed's fixed column names (feed.COLUMNS)
    },
    "warehouse.forecast.spend": {
        "condition",  # fixed `column = $f_name` fragments from FORECAST_FILTERS' columns
        "scope.where('tenant_id')",
    },
    "warehouse.projections.drivers": {
        "condition",  # TRUE or fixed `column = $name` fragments from FILTERS
        "scope.where('tenant_id')",
    },
    "warehouse.queries.costs": {
        "' AND '.join(where)",
        "condition",  # one of two fixed fragments; the tenant is a parameter
        "', '.join((f'sum({m})' for m in MEASURES))",
        "', '.join([*select, _SUMS])",
        "daily",
        "hour",
        "n",
        "plan.order",
        "plan.sql",
        "row",
        "scope.where('tenant_id')",
        "select",
        "source",
        "table",
    },
    "warehouse.reconciliation.store": {
        "' AND '.join((f'b.{c} IS NOT DISTINCT FROM s.{c}' for c in _FIGURES))",
        "', '.join((f'{c} = excluded.{c}' for c in _FIGURES))",
        "columns",  # the bill_lines column names, fixed
        "differs",  # built from _FIGURES, fixed column names
        "import_id",  # int(...) of the id the INSERT returned
        "values",  # fixed column names of the staged table
    },
    "warehouse.gate.store": {
        "COLUMNS",  # fixed column names
    },
    "warehouse.config.file_rows": {
        "table",  # FileTable: a Literal of the two file-sourced tables
    },
    "warehouse.gpu.allocation": {
        "RULES[rule]",
        "deployment=deployment",
        "found=found",
        "in_hours",
        "model=KEY_MODEL",
        "provider=KEY_PROVIDER",
        "rank",
        "rule",
        "server_address=server_address",
        "table",
    },
    "warehouse.gpu.efficiency": {
        "gpu_prices.PRICE_OF_GPU_HOUR",
        "table",
    },
    "warehouse.gpu.metric_points": {
        "', '.join(_PASSTHROUGH)",
        "', '.join(_POINT_COLUMNS)",
        "_POINT_ROWS",  # the fixed SELECT the file and the lake forms share
    },
    "warehouse.gpu.prices": {
        "', '.join(_COLUMNS)",
    },
    "warehouse.queries.gpu": {
        "', '.join((f'{name} NULLS LAST' for name in dimensions))",
        "period",
        "scope.where('m.tenant_id')",
        "selects",
    },
    "warehouse.incidents.lifecycle": {
        "', '.join((_staged_value(c) for c in COLUMNS))",
        "', '.join((f'{c} = {_staged_value(c)}' for c in COLUMNS[1:]))",
        "', '.join(COLUMNS)",
        "where",
    },
    "warehouse.spans.insert": {
        "', '.join(_PASSTHROUGH)",
        "_DIFFERS",  # built from the fixed content column names
    },
    "warehouse.jobs.incremental": {
        "', '.join(columns)",
    },
    "warehouse.incidents.mutes": {
        "', '.join(_COLUMNS)",
        "active",
        "scope.where('tenant_id')",
    },
    "warehouse.outcomes.extraction": {
        "', '.join(_LINK_COLUMNS)",
        "', '.join(_OUTCOME_COLUMNS)",
        "_LINK_ROWS",  # fixed SELECTs the file and the lake forms share
        "_OUTCOME_ROWS",
        "COUNT_ATTRIBUTE",
        "FEATURE_ATTRIBUTE",
        "ID_ATTRIBUTE",
        "KEY_ATTRIBUTE",
        "MAX_COUNT",
        "MAX_KEY_CHARS",
        "MAX_NAME_CHARS",
        "NAME_ATTRIBUTE",
        "NUMBER_PATTERN",
        "OUTCOME_EVENT",
        "OUTCOME_ID",
        "SUCCESS_ATTRIBUTE",
        "_MENTIONS_OUTCOMES",
        "_NUMBER",
        "_path(KEY_ATTRIBUTE)",
        "_path(NAME_ATTRIBUTE)",
        "_text(COUNT_ATTRIBUTE)",
        "_text(FEATURE_ATTRIBUTE)",
        "_text(ID_ATTRIBUTE)",
        "_text(KEY_ATTRIBUTE)",
        "_text(NAME_ATTRIBUTE)",
        "_text(SUCCESS_ATTRIBUTE)",
        "_type(COUNT_ATTRIBUTE)",
        "_type(FEATURE_ATTRIBUTE)",
        "_type(ID_ATTRIBUTE)",
        "_type(KEY_ATTRIBUTE)",
        "_type(NAME_ATTRIBUTE)",
        "_type(SUCCESS_ATTRIBUTE)",
    },
    "warehouse.queries.outcomes": {
        "RESOLVED_OUTCOMES",
        "_DIMENSION_ROWS",
        "_first('feature')",
        "_first('session_id')",
        "_first('tenant_id')",
        "column",
        "scope.where('r.tenant_id')",
    },
    "warehouse.outcomes.records": {
        "', '.join(_STORED)",
        "_ROWS",  # the fixed SELECT the file and the lake forms share
    },
    "warehouse.queries.prices": {
        "scope.where('m.tenant_id')",
    },
    "warehouse.pricing.job": {
        "', '.join(_OVERRIDE_COLUMNS)",
    },
    "warehouse.pricing.keys": {
        "', '.join(_PERIOD_COLUMNS)",
    },
    "warehouse.pricing.calls": {
        "COST_PARTS",  # fixed SQL text
        "PERIOD_HOLDS_CALL",  # fixed SQL text
        "_COST_COLUMNS",  # a fixed column list
        "_NEW_VALUES",  # excluded.<each of those columns>
        "TARGET_COLUMNS",
    },
    "warehouse.rollups.job": {
        "JOINED_CALLS",
        "PARTIALS",
        "RESUM",
        "USAGE",
        "only('WHERE (day, user_id) IN (SELECT (day, user_id) FROM rollup_user_days)')",
        "only('WHERE day IN (SELECT day FROM rollup_days)')",
        "only('WHERE hour IN (SELECT hour FROM rollup_hours)')",
        "only('WHERE session_id IN (SELECT session_id FROM rollup_session_keys)')",
        "only('WHERE trace_id IN (SELECT trace_id FROM rollup_traces_changed)')",
        "only",
        "source",
        "table",
    },
    "warehouse.detection.signals": {
        "', '.join(_COLUMNS)",
        "values",
    },
    "warehouse.detection.explain": {
        "DIMENSION_SQL['model']",
        "condition",
        "spans",
    },
    "warehouse.detection.series": {
        "DIMENSION_SQL['feature']",
        "DIMENSION_SQL['model']",
        "DIMENSION_SQL['tenant']",
        # Fixed fragments built from DIMENSION_SETS and DIMENSION_IDS (column names, ints).
        "' UNION ALL '.join((_set_keys(dims) for dims in DIMENSION_SETS))",
        "GROUPING_SETS",
        "ROW_CODE",
        "code",
        "dimensions",
        "key",
    },
    "warehouse.detection.state": {
        "NEXT_STATS.format(g='day')",  # the grain's fixed column prefix
        "NEXT_STATS.format(g='hour')",
        "g='day'",
        "g='hour'",
        "k",  # an int from range(1, weeks + 1)
        "lag_joins=joins",  # built from those ints
        "lags=lags",  # built from those ints
        "table",  # a fixed tuple of state tables
    },
    # The savings what-ifs: temp table names and SQL fragments fixed in the code; the
    # caller's values (feature, tenant, models, token limits) are parameters.
    "warehouse.savings.batch": {"BATCH_TABLE", "CALLS_TABLE"},
    "warehouse.savings.caching": {
        "CACHED_TABLE",
        "CALLS_TABLE",
        "LOW_READ_SHARE",
        "MIN_CACHEABLE",
        "MIN_CACHEABLE_HAIKU",
        "MOVABLE",
        "_CHAINED",
    },
    "warehouse.savings.opportunities": {"CALLS_TABLE"},  # a temp table name fixed in code
    "warehouse.savings.quality": {"CALLS_TABLE", "MOVABLE", "RESOLVED_OUTCOMES"},
    "warehouse.savings.recorded": {
        "CALLS_TABLE",
        "scope",  # TenantScope.where's fixed condition; the tenant is a parameter
    },
    "warehouse.savings.reprice": {
        "', '.join(_PERIOD_COLUMNS)",
        "COST_PARTS",
        "PERIODS_TABLE",
        "PERIOD_HOLDS_CALL",
        "calls",  # a temp table name the caller fixed in code
        "values",  # rows of '?' placeholders
    },
    "warehouse.savings.tally": {
        "calls=calls",  # temp table names fixed in code
        "keys=', '.join(keys)",  # column names fixed in code
        "repriced=repriced",
    },
    "warehouse.savings.whatif": {
        "CALLS_TABLE",
        "MOVABLE",
        "MOVED_TABLE",
        "OF_FEATURE",
        "REPRICED_TABLE",
    },
    "warehouse.queries.unit_economics": {
        "RESOLVED_OUTCOMES",
    },
    "warehouse.queries.latency": {
        "calls=PRICED_CALLS_IN_WINDOW",  # a fixed fragment of warehouse.pricing.calls
        "keys=keys",  # `<column> AS <name>, ` of LATENCY_DIMENSIONS entries, names checked
        "where=' AND '.join(where)",  # the scope's fixed condition, `<column> = $filterN`
        "group=group",  # GROUP BY ALL or nothing
    },
    "warehouse.export.focus": {
        "calls=PRICED_CALLS_IN_WINDOW",
        "dims=dims",  # `<column> AS <name>, ` of BY_DIMENSIONS entries, names checked
        "keys=keys",  # the same names
        "scope=where",  # TenantScope.where's fixed condition; the tenant is a parameter
    },
    "warehouse.queries.search": {
        "scope=where",  # TenantScope.where's fixed condition; the tenant is a parameter
    },
}


def sql_interpolations() -> dict[str, set[str]]:
    """Each module's expressions interpolated (f-string or `.format`) into SQL text."""
    found: dict[str, set[str]] = {}
    for package in ("collector", "warehouse"):
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            tree = ast.parse(path.read_text(), str(path))
            constants: dict[str, str] = {}
            for node in ast.walk(tree):
                if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Constant):
                    continue
                for target in node.targets:
                    if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                        constants[target.id] = node.value.value
            for node in ast.walk(tree):
                if isinstance(node, ast.JoinedStr):
                    text = "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
                    if SQL.search(text):
                        for value in node.values:
                            if isinstance(value, ast.FormattedValue):
                                found.setdefault(module, set()).add(ast.unparse(value.value))
                elif (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "format"
                ):
                    template = node.func.value
                    text = (
                        template.value
                        if isinstance(template, ast.Constant) and isinstance(template.value, str)
                        else constants.get(template.id, "")
                        if isinstance(template, ast.Name)
                        else ""
                    )
                    if SQL.search(text):
                        for keyword in node.keywords:
                            found.setdefault(module, set()).add(
                                f"{keyword.arg}={ast.unparse(keyword.value)}"
                            )
                        for arg in node.args:
                            found.setdefault(module, set()).add(ast.unparse(arg))
    return found


def test_sql_interpolates_only_reviewed_identifiers() -> None:
    found = sql_interpolations()
    unreviewed = {
        module: sorted(expressions - REVIEWED.get(module, set()))
        for module, expressions in found.items()
        if expressions - REVIEWED.get(module, set())
    }
    assert not unreviewed, (
        "SQL text built from these expressions: pass values as parameters; list an "
        f"identifier or fixed fragment in REVIEWED once checked: {unreviewed}"
    )
    stale = {
        m: sorted(e - found.get(m, set())) for m, e in REVIEWED.items() if e - found.get(m, set())
    }
    assert not stale, f"REVIEWED lists what the code no longer has: {stale}"
