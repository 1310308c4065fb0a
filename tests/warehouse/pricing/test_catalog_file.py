"""A newer genai-prices catalog without a package upgrade: a data file the user supplies (or
fetched from a loopback HTTP server), checked, put in force in the database, re-pricing
exactly what it changes; a bad file changes nothing and says what is wrong."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from collector.api.deps import ApiContext, install
from collector.api.price_catalog import CatalogSource
from collector.api.routers import prices as prices_api
from collector.auth import TokenSet
from tests.warehouse.pricing.catalog_data import bundled_raw, dumps, model, provider
from tests.warehouse.pricing.test_pricing import MTOK, Call, Warehouse, expected
from warehouse.pricing.catalog_file import CatalogFileError, parse_catalog
from warehouse.store.database import Database

DAY = dt.datetime(2025, 10, 1, tzinfo=dt.UTC)
NEW_MODEL = "acme-frontier-1"


@pytest.fixture
def wh(database: Database) -> Iterator[Warehouse]:
    warehouse = Warehouse(database)
    yield warehouse
    warehouse.cursor.close()


def newer_catalog() -> list[dict[str, Any]]:
    """The bundled data plus a model it does not have, and a new gpt-4o-mini price from DAY."""
    document = bundled_raw()
    provider(document, "openai")["models"].append(
        {
            "id": NEW_MODEL,
            "match": {"starts_with": NEW_MODEL},
            "prices": {"input_mtok": 1.25, "cache_read_mtok": 0.125, "output_mtok": 10},
        }
    )
    mini = model(document, "openai", "gpt-4o-mini")
    old = mini["prices"]
    mini["prices"] = [
        {"prices": old},
        {
            "constraint": {"start_date": DAY.date().isoformat()},
            "prices": {**old, "input_mtok": 0.1},
        },
    ]
    return document


def report(database: Database) -> dict[str, Any]:
    app = FastAPI()
    install(app, ApiContext(database, TokenSet([]), Path(".")))
    app.include_router(prices_api.router)
    response = TestClient(app).get("/api/v1/prices")
    assert response.status_code == 200, response.text
    return dict(response.json())


CALLS = [
    Call("openai", "gpt-4o", DAY),
    Call("openai", f"{NEW_MODEL}-2026-01-01", DAY),
    Call("openai", "gpt-4o-mini", DAY - dt.timedelta(days=1)),
    Call("openai", "gpt-4o-mini", DAY),
]


def test_a_catalog_file_prices_new_models_and_reprices_exactly_what_changes(
    wh: Warehouse, database: Database, tmp_path: Path
) -> None:
    ids = wh.ingest(CALLS)
    wh.run()
    before = wh.costs()
    assert before[ids[1]]["unpriced_reason"] == "no_price"  # the bundled catalog lacks it

    path = tmp_path / "data.json"
    path.write_bytes(dumps(newer_catalog()))
    assert CatalogSource(database, file=path).load()
    wh.run()
    after = wh.costs()
    for number in (ids[0], ids[2]):
        assert after[number] == before[number]  # same price: untouched, not re-sequenced
    new, mini = CALLS[1], CALLS[3]
    assert Decimal(after[ids[1]]["cost_usd"]) == (1000 * Decimal("1.25") + 100 * 10) * MTOK
    assert (
        Decimal(after[ids[3]]["cost_usd"]) == (1000 * Decimal("0.1") + 100 * Decimal("0.6")) * MTOK
    )
    assert expected("openai", "gpt-4o-mini", mini) != Decimal(after[ids[3]]["cost_usd"])
    requests = wh.cursor.execute(
        "SELECT model, from_time FROM reprice_requests ORDER BY model"
    ).fetchall()
    assert requests == [
        ("acme-frontier-1-2026-01-01", None),
        ("gpt-4o-mini", DAY.replace(tzinfo=None)),
    ]
    assert new.model.startswith(NEW_MODEL)

    catalog = report(database)["catalog"]
    assert catalog["source"] == "file" and catalog["location"] == str(path)
    assert catalog["sha256"] == parse_catalog(path.read_bytes(), "x").sha256
    assert catalog["models"] == 2331 and catalog["rejected"] == []
    assert catalog["modified_at"] is not None

    # a bad file: refused with what is wrong, the file in force before stays
    broken = newer_catalog()
    model(broken, "openai", "gpt-4o")["prices"]["output_mtok"] = -1
    del model(broken, "anthropic", "claude-sonnet-4-5")["match"]
    path.write_bytes(dumps(broken))
    assert not CatalogSource(database, file=path).load()
    catalog = report(database)["catalog"]
    assert catalog["sha256"] == parse_catalog(dumps(newer_catalog()), "x").sha256
    rejected = "\n".join(catalog["rejected"])
    assert f"{path}: provider #" in rejected
    assert "(anthropic): models[" in rejected and "(claude-sonnet-4-5).match" in rejected
    assert "(openai): model gpt-4o: output price -1: must be a finite, non-negative" in rejected
    wh.run()
    assert wh.costs() == after

    # no catalog setting: the bundled catalog again, re-pricing back exactly what changed
    assert CatalogSource(database).load()
    wh.run()
    restored = wh.costs()
    assert restored[ids[1]]["unpriced_reason"] == "no_price"
    assert restored[ids[3]]["cost_usd"] == before[ids[3]]["cost_usd"]
    assert restored[ids[0]] == before[ids[0]] and restored[ids[2]] == before[ids[2]]
    assert report(database)["catalog"]["source"] == "bundled"


def test_the_bundled_data_as_a_file_changes_no_cost(
    wh: Warehouse, database: Database, tmp_path: Path
) -> None:
    """The data file is read as genai-prices reads its own: the same data, the same prices
    (the snapshot format too: an object with a `providers` list)."""
    ids = wh.ingest([*CALLS, Call("anthropic", "claude-sonnet-4-5-20250929", DAY, 300_000, 10)])
    wh.run()
    before = wh.costs()
    path = tmp_path / "snapshot.json"
    path.write_bytes(dumps({"units": {}, "providers": bundled_raw()}))
    assert CatalogSource(database, file=path).load()
    wh.run()
    assert wh.costs() == before
    assert wh.cursor.execute("SELECT count(*) FROM reprice_requests").fetchone() == (0,)
    assert len(ids) == 5


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"[{", "not valid JSON"),
        (b'{"models": []}', "a JSON list of providers"),
        (b"[]", "holds no models"),
        (dumps([{"id": "x", "name": "X", "api_pattern": "", "models": 3}]), "provider #1 (x)"),
    ],
)
def test_bad_files_say_what_is_wrong(raw: bytes, message: str) -> None:
    with pytest.raises(CatalogFileError) as caught:
        parse_catalog(raw, "catalog.json")
    assert all(error.startswith("catalog.json: ") for error in caught.value.errors)
    assert message in "\n".join(caught.value.errors)


class _Server(http.server.ThreadingHTTPServer):
    body = b""
    delay = 0.0
    requests = 0


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.requests += 1
        time.sleep(self.server.delay)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Last-Modified", "Wed, 19 Nov 2025 08:00:00 GMT")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        # the client may have given up (its timeout): what the test wants
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(self.server.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def catalog_server() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_catalog_url_is_fetched_with_a_timeout(
    wh: Warehouse, database: Database, catalog_server: _Server
) -> None:
    ids = wh.ingest(CALLS)
    wh.run()
    url = f"http://127.0.0.1:{catalog_server.server_address[1]}/data.json"
    catalog_server.body = dumps(newer_catalog())
    source = CatalogSource(database, url=url, refresh_seconds=3600, timeout_seconds=5)
    source.start()  # fetched on its thread, not at start
    try:
        deadline = time.monotonic() + 30
        while report(database)["catalog"]["source"] != "url":
            assert time.monotonic() < deadline, "the catalog was never fetched"
            time.sleep(0.05)
    finally:
        source.stop()
    assert catalog_server.requests == 1
    catalog = report(database)["catalog"]
    assert catalog["location"] == url and catalog["modified_at"].startswith("2025-11-19T08:00")
    wh.run()
    assert wh.costs()[ids[1]]["priced"]

    # a server slower than the timeout: refused, the fetched catalog stays
    catalog_server.body = dumps(bundled_raw())
    catalog_server.delay = 2
    started = time.monotonic()
    assert not CatalogSource(database, url=url, timeout_seconds=0.5).load()
    assert time.monotonic() - started < 2
    catalog = report(database)["catalog"]
    assert (
        catalog["source"] == "url"
        and catalog["sha256"] == parse_catalog(dumps(newer_catalog()), "x").sha256
    )
    assert "fetch failed" in catalog["rejected"][0] and url in catalog["rejected"][0]
