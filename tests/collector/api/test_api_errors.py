"""Domain errors become HTTP in one place (`collector.api.deps`): each kind its status, the
body `{"detail": ...}` as before, a 503 with its Retry-After."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from collector.api.deps import status_code
from collector.service import create_app
from collector.settings import Settings
from warehouse.config.detection_file import DetectionFileError
from warehouse.config.price_file import PriceFileError
from warehouse.core.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    SpendscopeError,
    Unavailable,
)
from warehouse.detection.config import ConfigError
from warehouse.incidents.policy import PolicyError
from warehouse.outcomes.records import OutcomeInvalid
from warehouse.queries.calls import CallQueryError
from warehouse.queries.costs import CostQueryError
from warehouse.queries.gpu import GpuQueryError
from warehouse.store.database import Database


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (CostQueryError("x"), 400),
        (GpuQueryError("x"), 400),
        (CallQueryError("x"), 400),
        (PriceFileError(["x"]), 422),
        (DetectionFileError(["x"]), 422),
        (OutcomeInvalid("x"), 422),
        (PolicyError("x"), 422),
        (ConfigError("x"), 422),
        (InvalidRequest("x"), 422),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (Unavailable("x"), 503),
        (SpendscopeError("x"), None),  # of no kind: a server error
    ],
)
def test_each_domain_error_has_the_status_of_its_kind(
    error: SpendscopeError, status: int | None
) -> None:
    assert status_code(error) == status


def test_domain_errors_keep_their_python_bases() -> None:
    for error in (CostQueryError, GpuQueryError, PriceFileError, OutcomeInvalid, PolicyError):
        assert issubclass(error, ValueError)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    # No lifespan: the writers are not running, so reporting outcomes is unavailable.
    settings = Settings(data_dir=tmp_path, grpc_port=0, retry_after_seconds=7)
    database = Database.open(settings.database_path)
    try:
        yield TestClient(create_app(settings, database))
    finally:
        database.close()


def test_a_stopped_outcome_writer_answers_503_with_retry_after(client: TestClient) -> None:
    answer = client.post(
        "/api/v1/outcomes", json={"name": "ticket_resolved", "key": "T-1", "id": "o-1"}
    )
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "7"
    assert answer.json() == {"detail": "the outcome writer is not running"}


def test_invalid_requests_keep_their_status_and_body(client: TestClient, tmp_path: Path) -> None:
    spans = client.get("/api/v1/spans")
    assert (spans.status_code, spans.json()) == (
        400,
        {"detail": "give trace_id, session_id or both"},
    )
    window = client.get(
        "/api/v1/costs", params={"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}
    )
    assert (window.status_code, window.json()) == (422, {"detail": "end must be after start"})
    grouping = client.get("/api/v1/costs", params=[("group_by", "user"), ("group_by", "model")])
    assert grouping.status_code == 400 and isinstance(grouping.json()["detail"], str)
    (tmp_path / "prices.toml").write_text("[[prices]]\nprovider = 1\n")
    reload = client.post("/api/v1/prices/reload")
    assert reload.status_code == 422
    assert isinstance(reload.json()["detail"], list) and reload.json()["detail"]
    assert client.get("/readyz").json()["warnings"]  # the rejected file is reported


def test_missing_things_answer_404_and_conflicts_409(client: TestClient, tmp_path: Path) -> None:
    assert client.get("/api/v1/alerts/999").json() == {"detail": "no alert 999"}
    assert client.post("/api/v1/alerts/999/acknowledge").status_code == 404
    assert client.delete("/api/v1/alerts/mutes/5").json() == {"detail": "no mute 5"}
    assert client.delete("/api/v1/prices/5").json() == {"detail": "no price override 5"}
    session = client.get("/api/v1/sessions/nope")
    assert (session.status_code, session.json()) == (404, {"detail": "no session 'nope'"})
    added = client.post(
        "/api/v1/prices", json={"provider": "x", "model": "y", "input_mtok": 1, "output_mtok": 2}
    )
    assert added.status_code == 201
    assert client.delete(f"/api/v1/prices/{added.json()['id']}").status_code == 204
    (tmp_path / "prices.toml").write_text(
        '[[prices]]\nprovider = "x"\nmodel = "z"\ninput_mtok = 1\noutput_mtok = 2\n'
    )
    assert client.post("/api/v1/prices/reload").json()["added"] == 1
    from_file = client.get("/api/v1/prices").json()["overrides"][0]
    conflict = client.delete(f"/api/v1/prices/{from_file['id']}")
    assert conflict.status_code == 409
    assert conflict.json() == {
        "detail": "this price comes from the price file: edit the file and reload"
    }
