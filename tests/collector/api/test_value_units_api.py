"""Value units changed while the service runs: through the API (written to the value units
file) or by editing the file and reloading it; unit economics follow at once, and only an
unscoped token may change them."""

from __future__ import annotations

from typing import Any

from tests.collector.api.test_costs_api import (  # noqa: F401 (fixtures)
    ADMIN,
    WINDOW,
    Pipeline,
    _tenant_world,
    pipeline,
    tenant,
)
from warehouse.config.value_units_file import FILE_NAME

CONFIG = "/api/v1/value-units/config"


def support_units(pipe: Pipeline) -> Any:
    rows = {r["feature"]: r for r in pipe.get("/unit-economics", **WINDOW)["features"]}
    return rows["support"]["value_unit"], rows["support"]["value_units"]


def test_value_units_change_through_the_api_and_the_file(pipeline: Pipeline) -> None:  # noqa: F811
    _tenant_world(pipeline)  # two support sessions with a ticket_resolved each
    assert support_units(pipeline) == ("ticket_resolved", 2)
    shown = {u["feature"]: u for u in pipeline.get("/value-units/config")["value_units"]}
    assert shown["support"] == {
        "feature": "support",
        "outcome": "ticket_resolved",
        "source": "setting",
    }
    # Through the API: at once, and into the file.
    put = pipeline.client.put(f"{CONFIG}/support", json={"outcome": "ticket_closed"}, headers=ADMIN)
    assert put.status_code == 200, put.text
    assert support_units(pipeline) == ("ticket_closed", 0)
    path = pipeline.app.state.api.data_dir / FILE_NAME
    assert 'support = "ticket_closed"' in path.read_text()
    # By hand, then reloaded.
    path.write_text('[value_units]\nsupport = "ticket_resolved"\nsearch = "clicked"\n')
    reloaded = pipeline.client.post(f"{CONFIG}/reload", headers=ADMIN).json()
    assert {u["feature"]: u["source"] for u in reloaded["value_units"]} == {
        "support": "file",
        "search": "file",
    }
    assert support_units(pipeline) == ("ticket_resolved", 2)
    # An invalid file: every error, nothing changed.
    path.write_text('[value_units]\nsupport = ""\n')
    bad = pipeline.client.post(f"{CONFIG}/reload", headers=ADMIN)
    assert bad.status_code == 422 and "support" in str(bad.json()["detail"])
    assert support_units(pipeline) == ("ticket_resolved", 2)
    # Removed from the file: the setting's unit again; a second time, 404.
    path.write_text('[value_units]\nsupport = "ticket_closed"\n')
    pipeline.client.post(f"{CONFIG}/reload", headers=ADMIN)
    assert pipeline.client.delete(f"{CONFIG}/support", headers=ADMIN).status_code == 204
    assert support_units(pipeline) == ("ticket_resolved", 2)
    assert pipeline.client.delete(f"{CONFIG}/support", headers=ADMIN).status_code == 404
    invalid = pipeline.client.put(f"{CONFIG}/support", json={"outcome": ""}, headers=ADMIN)
    assert invalid.status_code == 422


def test_only_an_unscoped_token_changes_value_units(pipeline: Pipeline) -> None:  # noqa: F811
    acme = tenant("acme")
    assert pipeline.client.get(CONFIG, headers=acme).status_code == 200
    for method, path in (("PUT", f"{CONFIG}/support"), ("DELETE", f"{CONFIG}/support"),
                         ("POST", f"{CONFIG}/reload")):  # fmt: skip
        denied = pipeline.client.request(method, path, json={"outcome": "x"}, headers=acme)
        assert denied.status_code == 403, (method, path)
    assert pipeline.client.get(CONFIG).status_code == 401
    assert support_units(pipeline)[0] == "ticket_resolved"
