"""`tenant` on /unit-economics and `tenant` / `environment` on /cache-savings (the
dashboard's filters): per-tenant figures add up to the whole, exactly, and a tenant token
never sees another tenant through them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from sample_data.harness.server import ServerProcess
from sample_data.product import VALUE_UNITS
from sample_data.traffic import SampleTraffic, tracer_provider

ADMIN = {"authorization": "Bearer admin-token"}
ACME = {"authorization": "Bearer acme-token"}


def test_per_tenant_unit_economics_and_cache_savings_add_up(tmp_path: Path) -> None:
    env = {
        "SPENDSCOPE_API_TOKENS": "admin-token",
        "SPENDSCOPE_TENANT_TOKENS": "acme:acme-token",
        "SPENDSCOPE_VALUE_UNITS": ",".join(f"{k}={v}" for k, v in VALUE_UNITS.items()),
    }
    with ServerProcess(tmp_path / "server", env=env) as server:
        provider = tracer_provider(
            OTLPSpanExporter(endpoint=f"{server.http_url}/v1/traces"), "filters", "test"
        )
        SampleTraffic(provider.get_tracer("filters"), seed=4).run(60)
        provider.shutdown()
        server.wait_attributed()
        # One fixed window for every request (sample sessions run a few minutes ahead).
        hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        window = {
            "start": (hour - dt.timedelta(days=1)).isoformat(),
            "end": (hour + dt.timedelta(hours=3)).isoformat(),
        }

        tenants = [
            row["dimensions"]["tenant"]
            for row in server.get("/api/v1/costs", group_by="tenant", **window).json()["rows"]
        ]
        assert len(tenants) >= 4 and None not in tenants
        whole = {
            r["feature"]: r
            for r in server.get("/api/v1/unit-economics", **window).json()["features"]
        }
        summed: dict[str, Decimal] = defaultdict(Decimal)
        sessions: dict[str, int] = defaultdict(int)
        for tenant in tenants:
            for row in server.get("/api/v1/unit-economics", **window, tenant=tenant).json()[
                "features"
            ]:
                summed[row["feature"]] += Decimal(row["cost_usd"])
                sessions[row["feature"]] += row["sessions"]
        for feature, row in whole.items():
            assert summed[feature] == Decimal(row["cost_usd"]), feature
            assert sessions[feature] == row["sessions"], feature

        savings = server.get("/api/v1/cache-savings", **window).json()
        by_tenant = sum(
            Decimal(
                server.get("/api/v1/cache-savings", **window, tenant=t).json()["cache_savings_usd"]
            )
            for t in tenants
        )
        assert Decimal(savings["cache_savings_usd"]) > 0
        assert by_tenant == Decimal(savings["cache_savings_usd"])
        other_env = server.get("/api/v1/cache-savings", **window, environment="nowhere").json()
        assert other_env["rows"] == [] and Decimal(other_env["cost_usd"]) == 0

        # A tenant token: its own tenant, asked or not; another tenant: nothing.
        own = server.get("/api/v1/unit-economics", **window, headers=ACME).json()["features"]
        asked = server.get("/api/v1/unit-economics", **window, headers=ACME, tenant="acme").json()
        assert asked["features"] == own
        admin_acme = server.get("/api/v1/unit-economics", **window, tenant="acme").json()[
            "features"
        ]
        assert own == admin_acme
        other = next(t for t in tenants if t != "acme")
        stolen = server.get("/api/v1/unit-economics", **window, headers=ACME, tenant=other).json()
        assert stolen["features"] == []
        assert server.get("/api/v1/unit-economics", **window, headers=ADMIN, tenant=other).json()[
            "features"
        ]
