"""The app factory and its lifespan: writer, gRPC receiver, jobs and the alert dispatcher,
started in order and stopped in reverse, flushing accepted spans within a deadline.

`build_service` makes the parts of one serving process from the settings (`Service`);
`create_app` puts them on `app.state.service`, gives the API its context
(`collector.api.deps`) and includes the routers. The lifespan starts the parts on
`app.state.service` and stops them within one shared deadline.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import duckdb
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from collector.alerting.channel import Channel
from collector.alerting.dispatcher import AlertDispatcher, DeliveryMetrics, PendingCollector
from collector.alerting.wiring import alert_channels, alert_policy
from collector.api import deps, v1
from collector.api.docs_assets import serve_docs_offline
from collector.api.price_catalog import CatalogSource
from collector.api.price_file_status import PriceFileStatus
from collector.api.routers import (
    alerts,
    budget_check,
    costs,
    detection,
    export,
    forecast,
    gate,
    gpu,
    outcomes,
    prices,
    savings,
    search,
    value_units,
)
from collector.api.routers import (
    reconciliation as reconciliation_api,
)
from collector.auth import TokenSet
from collector.ingest.logs.outcome_writer import OutcomeMetrics, OutcomeWriter
from collector.ingest.logs.receiver import LogsReceiver
from collector.ingest.metrics.decode import MetricRules
from collector.ingest.metrics.receiver import MetricsReceiver
from collector.ingest.metrics.writer import MetricIngestMetrics, MetricWriter
from collector.ingest.normalize import DimensionRules, Normalizer
from collector.ingest.otlp_grpc import otlp_grpc_handler
from collector.ingest.otlp_http import otlp_router
from collector.ingest.pipeline import IngestService
from collector.ingest.traces.grpc_receiver import GrpcReceiver
from collector.ingest.traces.writer import Writer
from collector.service_metrics import IngestMetrics, JobStateCollector, LakeCollector
from collector.settings import Settings
from warehouse.config import sync as config_sync
from warehouse.config.value_units_file import ValueUnits, ValueUnitsFileError
from warehouse.detection import anomalies, budgets, runaway
from warehouse.gpu import prices as gpu_prices
from warehouse.gpu.config import GpuConfig, store_config
from warehouse.incidents.outbox import pending_counts
from warehouse.incidents.policy import store_policy
from warehouse.jobs import quarantine
from warehouse.jobs.incremental import job_states
from warehouse.jobs.scheduler import JobScheduler
from warehouse.ledger.feed import LedgerFeed
from warehouse.ledger.ledger import LiveLedger
from warehouse.ledger.limits import load_limits
from warehouse.ledger.seed import seed as seed_ledger
from warehouse.reconciliation import detector as reconciliation
from warehouse.store.compaction import Compactor
from warehouse.store.database import Database
from warehouse.store.leadership import Leadership
from warehouse.store.retry import retry_on_conflict

log = logging.getLogger(__name__)

T = TypeVar("T")


def dimension_rules(settings: Settings) -> DimensionRules:
    pattern = settings.feature_span_name_pattern
    return DimensionRules(
        feature_keys=tuple(settings.feature_attributes),
        tenant_keys=tuple(settings.tenant_attributes),
        feature_span_name_pattern=re.compile(pattern) if pattern else None,
        feature_from_service=settings.feature_from_service,
    )


def gpu_settings(settings: Settings) -> GpuConfig:
    """The GPU settings the jobs read from the database (`warehouse.gpu.config`)."""
    return GpuConfig(
        match=tuple(settings.gpu_match),
        deployment_attributes=tuple(settings.gpu_deployment_attributes),
        max_sample_gap_seconds=settings.gpu_max_sample_gap_seconds,
    )


@dataclass
class Service:
    """The parts of one serving process, built once from the settings (`build_service`)."""

    settings: Settings
    database: Database
    metrics: IngestMetrics
    ingest: IngestService
    ingest_tokens: TokenSet
    writer: Writer
    outcome_writer: OutcomeWriter
    outcome_metrics: OutcomeMetrics
    logs_receiver: LogsReceiver
    metric_writer: MetricWriter
    metrics_receiver: MetricsReceiver
    grpc_receiver: GrpcReceiver | None
    leadership: Leadership  # whether this node runs the jobs and the alert delivery
    compactor: Compactor  # the lake's compaction, on the leader (nothing on the file)
    scheduler: JobScheduler
    channels: list[Channel]
    dispatcher: AlertDispatcher
    price_file: PriceFileStatus
    catalog: CatalogSource  # the catalog file or URL, if set (docs/pricing.md)
    ledger_feed: LedgerFeed  # the budget check's live spend (warehouse.ledger)


def _read(database: Database, query: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
    with closing(database.cursor()) as cursor:
        return query(cursor)


def build_service(settings: Settings, database: Database) -> Service:
    metrics = IngestMetrics(CollectorRegistry())
    metrics.registry.register(JobStateCollector(partial(_read, database, job_states)))
    ledger_feed = LedgerFeed(LiveLedger())
    writer = Writer(
        database,
        metrics,
        max_queued_spans=settings.max_queued_spans,
        max_commit_spans=settings.max_commit_spans,
        feed=ledger_feed,
    )
    item_chars = settings.max_item_attribute_chars
    ingest = IngestService(
        Normalizer(dimension_rules(settings)), writer, metrics, item_chars=item_chars
    )
    ingest_tokens = TokenSet(settings.ingest_tokens)
    outcome_metrics = OutcomeMetrics(metrics.registry)
    outcome_writer = OutcomeWriter(database, outcome_metrics)
    logs_receiver = LogsReceiver(
        ingest.normalizer, outcome_writer, outcome_metrics, item_chars=item_chars
    )
    metric_ingest_metrics = MetricIngestMetrics(metrics.registry)
    metric_writer = MetricWriter(
        database, metric_ingest_metrics, max_queued=settings.max_queued_metric_points
    )
    metrics_receiver = MetricsReceiver(
        MetricRules(tuple(settings.gpu_deployment_attributes), item_chars),
        metric_writer,
        metric_ingest_metrics,
    )
    node = settings.node_id or f"{socket.gethostname()}-{os.getpid()}"
    leadership = Leadership(database, node)
    metrics.registry.register(LakeCollector(database, leadership))
    channels = alert_channels(settings)
    dispatcher = _dispatcher(settings, database, channels, metrics.registry, leadership)
    metrics.registry.register(
        PendingCollector(partial(_read, database, pending_counts), dispatcher.channels)
    )
    return Service(
        settings=settings,
        database=database,
        metrics=metrics,
        ingest=ingest,
        ingest_tokens=ingest_tokens,
        writer=writer,
        outcome_writer=outcome_writer,
        outcome_metrics=outcome_metrics,
        logs_receiver=logs_receiver,
        metric_writer=metric_writer,
        metrics_receiver=metrics_receiver,
        grpc_receiver=_grpc_receiver(
            settings, ingest, ingest_tokens, logs_receiver, metrics_receiver
        ),
        leadership=leadership,
        compactor=Compactor(
            database,
            settings.lake_compaction_interval_seconds,
            lambda: leadership.is_leader,
        ),
        scheduler=_scheduler(settings, database, leadership),
        channels=channels,
        dispatcher=dispatcher,
        price_file=PriceFileStatus(),
        catalog=CatalogSource.from_settings(database, settings),
        ledger_feed=ledger_feed,
    )


def _grpc_receiver(
    settings: Settings,
    ingest: IngestService,
    tokens: TokenSet,
    logs_receiver: LogsReceiver,
    metrics_receiver: MetricsReceiver,
) -> GrpcReceiver | None:
    if not settings.grpc_port:
        return None
    return GrpcReceiver(
        ingest,
        tokens,
        settings.host,
        settings.grpc_port,
        settings.max_body_bytes,
        extra_handlers=[
            otlp_grpc_handler(logs_receiver.signal, tokens),
            otlp_grpc_handler(metrics_receiver.signal, tokens),
        ],
    )


def _scheduler(settings: Settings, database: Database, leadership: Leadership) -> JobScheduler:
    detector_intervals = {
        anomalies.NAME: settings.detection_interval_seconds,
        budgets.NAME: settings.detection_interval_seconds,
        reconciliation.NAME: settings.detection_interval_seconds,
        runaway.NAME: settings.runaway_interval_seconds,
    }
    return JobScheduler(
        database,
        settings.attribution_interval_seconds,
        intervals=detector_intervals,
        quarantine_after=settings.job_quarantine_after_failures,
        leads=lambda: leadership.is_leader,
    )


def _dispatcher(
    settings: Settings,
    database: Database,
    channels: list[Channel],
    registry: CollectorRegistry,
    leadership: Leadership,
) -> AlertDispatcher:
    return AlertDispatcher(
        database,
        channels,
        DeliveryMetrics(registry),
        poll_seconds=settings.alert_delivery_poll_seconds,
        timeout_seconds=settings.alert_delivery_timeout_seconds,
        initial_backoff_seconds=settings.alert_retry_initial_seconds,
        max_backoff_seconds=settings.alert_retry_max_seconds,
        leads=lambda: leadership.is_leader,
    )


# ---- the lifespan --------------------------------------------------------------------------


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the parts on `app.state.service` in order; stop them in reverse."""
    service: Service = app.state.service
    await _start(service)
    try:
        yield
    finally:
        await _stop(service)


async def _start(service: Service) -> None:
    settings = service.settings
    with closing(service.database.cursor()) as cursor:
        # Before the writer takes spans: what it commits from now on is fed on top.
        counted = seed_ledger(cursor, service.ledger_feed, dt.datetime.now(dt.UTC))
        log.info("budget check: %d calls in the live ledger at start-up", counted)
    service.writer.start()
    service.outcome_writer.start()
    service.metric_writer.start()
    if service.grpc_receiver is not None:
        await service.grpc_receiver.start()
    retry_on_conflict(partial(_sync_configuration, service))
    service.catalog.start()  # the catalog file or URL, if set (docs/pricing.md)
    service.leadership.start()
    service.scheduler.start()
    service.compactor.start()
    service.dispatcher.start()
    log.info("spendscope serving on %s:%d", settings.host, settings.http_port)


def _sync_configuration(service: Service) -> None:
    """Store the files' and settings' configuration (each node of a lake does, at start)."""
    settings = service.settings
    with closing(service.database.cursor()) as cursor:
        config_sync.load_price_file_reporting(
            cursor, settings.data_dir, gpu_prices, service.price_file
        )
        store_policy(cursor, alert_policy(settings), dt.datetime.now(dt.UTC))
        store_config(cursor, gpu_settings(settings))
        # Valid: `serve` checked the detection file before it started the service.
        config_sync.sync_detection_file(cursor, settings.data_dir)
        service.ledger_feed.ledger.set_limits(load_limits(cursor))


async def _stop(service: Service) -> None:
    """Stop in reverse, all within `shutdown_timeout_seconds`: one monotonic deadline, each
    part given what is left of it, so that a part slow to stop shortens the time of those
    after it instead of adding its own."""
    settings = service.settings
    deadline = time.monotonic() + settings.shutdown_timeout_seconds

    def left() -> float:
        return max(0.0, deadline - time.monotonic())

    if not service.dispatcher.stop(min(left(), settings.alert_delivery_timeout_seconds + 1)):
        log.warning("alert dispatcher still sending at shutdown")
    service.scheduler.stop(deadline_seconds=min(left(), 5.0))  # interrupts a long job
    service.compactor.stop(min(left(), 5.0))
    service.leadership.stop()  # gives the lease up: a follower takes the jobs over
    service.catalog.stop(min(left(), 5.0))
    if service.grpc_receiver is not None:
        await service.grpc_receiver.stop(grace=min(5.0, left()))
    service.outcome_writer.stop(left())
    service.metric_writer.stop(left())
    flushed = service.writer.stop(left())
    log.info("spendscope stopped (%s)", "all spans flushed" if flushed else "NOT flushed")


# ---- the app -------------------------------------------------------------------------------


def create_app(settings: Settings, database: Database) -> FastAPI:
    service = build_service(settings, database)
    app = FastAPI(
        title="spendscope",
        summary="Cost observability and attribution for AI inference.",
        version="0.1.0",
        lifespan=lifespan,
    )
    serve_docs_offline(app)  # /docs and /redoc without a CDN (collector.api.docs_assets)
    app.state.service = service
    deps.install(app, api_context(service))
    _include_routers(app, service)
    app.add_api_route("/healthz", healthz, include_in_schema=False)
    app.add_api_route("/readyz", readyz, include_in_schema=False)
    app.add_api_route("/metrics", prometheus, include_in_schema=False)
    return app


def _value_units(settings: Settings) -> ValueUnits:
    """SPENDSCOPE_VALUE_UNITS under the value units file; an invalid file is logged and
    the setting's units apply until it is fixed and reloaded."""
    units = ValueUnits(settings.value_units, settings.data_dir)
    try:
        units.reload()
    except ValueUnitsFileError as exc:
        log.error("value units file not loaded: %s", "; ".join(exc.errors))
    return units


def api_context(service: Service) -> deps.ApiContext:
    settings = service.settings
    # Reporting outcomes is ingest: open when ingest is, else an ingest or API token.
    report_tokens = TokenSet(
        [*settings.ingest_tokens, *settings.api_tokens] if settings.ingest_tokens else []
    )
    return deps.ApiContext(
        database=service.database,
        # Every /api/v1 reader: unscoped API tokens and tenant-scoped tokens (collector.auth).
        tokens=TokenSet(settings.api_tokens, settings.tenant_tokens),
        data_dir=settings.data_dir,
        price_file=service.price_file,
        channels=service.channels,
        wake_dispatcher=service.dispatcher.wake,
        value_units=_value_units(settings),
        detector_intervals={
            "spend_anomaly": settings.detection_interval_seconds,
            "budget": settings.detection_interval_seconds,
            "runaway_session": settings.runaway_interval_seconds,
        },
        outcomes=deps.OutcomeIntake(
            writer=service.outcome_writer,
            metrics=service.outcome_metrics,
            tokens=report_tokens,
            max_body_bytes=settings.max_body_bytes,
        ),
        retry_after_seconds=settings.retry_after_seconds,
        budget_checks=deps.BudgetChecks(service.ledger_feed.ledger, service.metrics.budget_checks),
    )


def _include_routers(app: FastAPI, service: Service) -> None:
    settings = service.settings
    limits = (settings.max_body_bytes, settings.retry_after_seconds)
    app.include_router(otlp_router(service.ingest.signal, service.ingest_tokens, *limits))
    app.include_router(v1.router)
    app.include_router(prices.router)
    app.include_router(alerts.router)
    app.include_router(costs.router)
    app.include_router(export.router)
    app.include_router(detection.router)
    app.include_router(forecast.router)
    for receiver in (service.logs_receiver, service.metrics_receiver):
        app.include_router(otlp_router(receiver.signal, service.ingest_tokens, *limits))
    app.include_router(gpu.router)
    app.include_router(reconciliation_api.router)
    app.include_router(gate.router)
    app.include_router(outcomes.router)
    app.include_router(search.router)
    app.include_router(value_units.router)
    app.include_router(savings.router)
    app.include_router(budget_check.router)


# ---- health and metrics --------------------------------------------------------------------


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def healthz() -> dict[str, str]:
    return {"status": "ok"}


def readyz(request: Request) -> JSONResponse:
    service = _service(request)
    writer = service.writer
    problems = []
    if not writer.healthy:
        problems.append("writer is not running")
    if writer.last_error:
        problems.append(f"last commit failed: {writer.last_error}")
    if not service.outcome_writer.healthy:
        problems.append("outcome writer is not running")
    if not service.metric_writer.healthy:
        problems.append("metric writer is not running")
    if writer.queued_spans >= service.settings.max_queued_spans:
        problems.append("ingest queue is full")
    # Not reasons to refuse spans: reported, still ready.
    warnings = [f"price file rejected: {error}" for error in service.price_file.errors]
    warnings += quarantine.readiness_warnings(service.database)
    if problems:
        body: dict[str, Any] = {"status": "unavailable", "problems": problems}
        return JSONResponse(body | ({"warnings": warnings} if warnings else {}), 503)
    return JSONResponse({"status": "ready"} | ({"warnings": warnings} if warnings else {}))


def prometheus(request: Request) -> Response:
    registry = _service(request).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
