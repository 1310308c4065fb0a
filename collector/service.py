"""The app factory and its lifespan: writer, gRPC receiver, jobs and the alert dispatcher,
started in order and stopped in reverse, flushing accepted spans within a deadline."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from collector.alerting.dispatcher import AlertDispatcher, DeliveryMetrics, PendingCollector
from collector.alerting.wiring import alert_channels, sync_alert_policy
from collector.api.docs_assets import serve_docs_offline
from collector.api.price_catalog import CatalogSource
from collector.api.price_file_status import PriceFileStatus
from collector.api.routers.alerts import alerts_router
from collector.api.routers.costs import costs_router
from collector.api.routers.detection import detection_router, sync_detection_file
from collector.api.routers.gpu import gpu_router, store_gpu_config
from collector.api.routers.outcomes import outcomes_api_router
from collector.api.routers.prices import load_price_file_reporting, prices_router
from collector.api.routers.reconciliation import reconciliation_router
from collector.api.v1 import api_router
from collector.auth import TokenSet
from collector.ingest.logs.outcome_writer import OutcomeMetrics, OutcomeWriter
from collector.ingest.logs.receiver import LogsReceiver, logs_grpc_handler, otlp_logs_router
from collector.ingest.metrics.decode import MetricRules
from collector.ingest.metrics.receiver import (
    MetricsReceiver,
    metrics_grpc_handler,
    otlp_metrics_router,
)
from collector.ingest.metrics.writer import MetricIngestMetrics, MetricWriter
from collector.ingest.normalize import DimensionRules, Normalizer
from collector.ingest.pipeline import IngestService
from collector.ingest.traces.grpc_receiver import GrpcReceiver
from collector.ingest.traces.http_receiver import otlp_http_router
from collector.ingest.traces.writer import Writer
from collector.service_metrics import IngestMetrics, JobStateCollector
from collector.settings import Settings
from warehouse.detection import anomalies, budgets, runaway
from warehouse.incidents.outbox import pending_counts
from warehouse.jobs import quarantine
from warehouse.jobs.incremental import job_states
from warehouse.jobs.scheduler import JobScheduler
from warehouse.reconciliation import detector as reconciliation
from warehouse.store.database import Database

log = logging.getLogger(__name__)


def dimension_rules(settings: Settings) -> DimensionRules:
    pattern = settings.feature_span_name_pattern
    return DimensionRules(
        feature_keys=tuple(settings.feature_attributes),
        tenant_keys=tuple(settings.tenant_attributes),
        feature_span_name_pattern=re.compile(pattern) if pattern else None,
        feature_from_service=settings.feature_from_service,
    )


def create_app(settings: Settings, database: Database) -> FastAPI:
    metrics = IngestMetrics(CollectorRegistry())

    def read_job_states() -> list[dict[str, Any]]:
        cursor = database.cursor()
        try:
            return job_states(cursor)
        finally:
            cursor.close()

    metrics.registry.register(JobStateCollector(read_job_states))
    writer = Writer(
        database,
        metrics,
        max_queued_spans=settings.max_queued_spans,
        max_commit_spans=settings.max_commit_spans,
    )
    item_chars = settings.max_item_attribute_chars
    service = IngestService(
        Normalizer(dimension_rules(settings)), writer, metrics, item_chars=item_chars
    )
    ingest_tokens = TokenSet(settings.ingest_tokens)
    outcome_metrics = OutcomeMetrics(metrics.registry)
    outcome_writer = OutcomeWriter(database, outcome_metrics)
    logs_receiver = LogsReceiver(
        service.normalizer, outcome_writer, outcome_metrics, item_chars=item_chars
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
    grpc_receiver = (
        GrpcReceiver(
            service,
            ingest_tokens,
            settings.host,
            settings.grpc_port,
            settings.max_body_bytes,
            extra_handlers=[
                logs_grpc_handler(logs_receiver, ingest_tokens),
                metrics_grpc_handler(metrics_receiver, ingest_tokens),
            ],
        )
        if settings.grpc_port
        else None
    )
    detector_intervals = {
        anomalies.NAME: settings.detection_interval_seconds,
        budgets.NAME: settings.detection_interval_seconds,
        reconciliation.NAME: settings.detection_interval_seconds,
        runaway.NAME: settings.runaway_interval_seconds,
    }
    scheduler = JobScheduler(
        database,
        settings.attribution_interval_seconds,
        intervals=detector_intervals,
        quarantine_after=settings.job_quarantine_after_failures,
    )
    channels = alert_channels(settings)
    dispatcher = AlertDispatcher(
        database,
        channels,
        DeliveryMetrics(metrics.registry),
        poll_seconds=settings.alert_delivery_poll_seconds,
        timeout_seconds=settings.alert_delivery_timeout_seconds,
        initial_backoff_seconds=settings.alert_retry_initial_seconds,
        max_backoff_seconds=settings.alert_retry_max_seconds,
    )

    def read_pending() -> dict[str, int]:
        cursor = database.cursor()
        try:
            return pending_counts(cursor)
        finally:
            cursor.close()

    metrics.registry.register(PendingCollector(read_pending, dispatcher.channels))
    price_file = PriceFileStatus()
    catalog = CatalogSource.from_settings(database, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        writer.start()
        outcome_writer.start()
        metric_writer.start()
        if grpc_receiver is not None:
            await grpc_receiver.start()
        load_price_file_reporting(database, settings.data_dir, price_file)
        catalog.start()  # the catalog file or URL, if set (docs/pricing.md)
        sync_alert_policy(database, settings)
        store_gpu_config(database, settings)
        sync_detection_file(database, settings.data_dir)  # likewise
        scheduler.start()
        dispatcher.start()
        log.info("spendscope serving on %s:%d", settings.host, settings.http_port)
        try:
            yield
        finally:
            deadline = settings.shutdown_timeout_seconds
            if not dispatcher.stop(min(deadline, settings.alert_delivery_timeout_seconds + 1)):
                log.warning("alert dispatcher still sending at shutdown")
            scheduler.stop(deadline_seconds=min(deadline, 5.0))  # interrupts a long job
            catalog.stop()
            if grpc_receiver is not None:
                await grpc_receiver.stop(grace=min(5.0, deadline))
            outcome_writer.stop(deadline)
            metric_writer.stop(deadline)
            flushed = writer.stop(deadline)
            log.info("spendscope stopped (%s)", "all spans flushed" if flushed else "NOT flushed")

    app = FastAPI(
        title="spendscope",
        summary="Cost observability and attribution for AI inference.",
        version="0.1.0",
        lifespan=lifespan,
    )
    serve_docs_offline(app)  # /docs and /redoc without a CDN (collector.api.docs_assets)
    app.state.writer = writer
    app.state.grpc_receiver = grpc_receiver
    app.state.scheduler = scheduler
    app.state.dispatcher = dispatcher
    app.include_router(
        otlp_http_router(
            service, ingest_tokens, settings.max_body_bytes, settings.retry_after_seconds
        )
    )
    # Every /api/v1 reader: unscoped API tokens and tenant-scoped tokens (collector.auth).
    api_tokens = TokenSet(settings.api_tokens, settings.tenant_tokens)
    app.include_router(api_router(database, api_tokens))
    app.include_router(prices_router(database, api_tokens, settings.data_dir, price_file))
    app.include_router(alerts_router(database, api_tokens, channels, dispatcher.wake))
    app.include_router(costs_router(database, api_tokens, dict(settings.value_units)))
    app.include_router(
        detection_router(
            database,
            api_tokens,
            settings.data_dir,
            {
                "spend_anomaly": settings.detection_interval_seconds,
                "budget": settings.detection_interval_seconds,
                "runaway_session": settings.runaway_interval_seconds,
            },
        )
    )
    app.include_router(
        otlp_logs_router(
            logs_receiver, ingest_tokens, settings.max_body_bytes, settings.retry_after_seconds
        )
    )
    app.include_router(
        otlp_metrics_router(
            metrics_receiver, ingest_tokens, settings.max_body_bytes, settings.retry_after_seconds
        )
    )
    app.include_router(gpu_router(database, api_tokens))
    app.include_router(reconciliation_router(database, api_tokens))
    app.include_router(
        outcomes_api_router(
            database,
            outcome_writer,
            outcome_metrics,
            # Reporting outcomes is ingest: open when ingest is, else an ingest or API token.
            report_tokens=TokenSet(
                [*settings.ingest_tokens, *settings.api_tokens] if settings.ingest_tokens else []
            ),
            read_tokens=api_tokens,
            value_units=dict(settings.value_units),
            max_body_bytes=settings.max_body_bytes,
            retry_after=settings.retry_after_seconds,
        )
    )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        problems = []
        if not writer.healthy:
            problems.append("writer is not running")
        if writer.last_error:
            problems.append(f"last commit failed: {writer.last_error}")
        if not outcome_writer.healthy:
            problems.append("outcome writer is not running")
        if not metric_writer.healthy:
            problems.append("metric writer is not running")
        if writer.queued_spans >= settings.max_queued_spans:
            problems.append("ingest queue is full")
        # Not reasons to refuse spans: reported, still ready.
        warnings = [f"price file rejected: {error}" for error in price_file.errors]
        warnings += quarantine.readiness_warnings(database)
        if problems:
            body: dict[str, Any] = {"status": "unavailable", "problems": problems}
            return JSONResponse(body | ({"warnings": warnings} if warnings else {}), 503)
        return JSONResponse({"status": "ready"} | ({"warnings": warnings} if warnings else {}))

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
