"""What runs before any route: body size limit, API key check, and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac
import os
import threading
import time

from fastapi import Request
from starlette.middleware.base import BaseHTTPMiddleware

from .._config import Settings
from ._errors import error_response

#: Paths served without the API key, and the prefix of the docs pages' assets.
PUBLIC_PATHS = {"/healthz", "/metrics", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"}
PUBLIC_PREFIX = "/static-offline-docs/"
#: prometheus_client's multiprocess mode: set (to a folder) for servers of several worker processes.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """Prometheus counters and a latency histogram, in a registry of this app's own.

    With several server processes, prometheus_client's multiprocess mode keeps each process's
    values in files of one folder, and a scrape of any process adds them all up.
    """

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.multiprocess = bool(os.environ.get(MULTIPROCESS_DIR))
        # In multiprocess mode the values live in files; a registry is built at each scrape.
        registry = None if self.multiprocess else CollectorRegistry()
        self.registry = registry
        self.requests = Counter("repotag_requests", "HTTP requests", ["path", "status"], registry=registry)
        self.errors = Counter("repotag_errors", "HTTP requests answered 4xx or 5xx", ["path"], registry=registry)
        self.latency = Histogram(
            "repotag_request_seconds", "Request latency", ["path"], registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

        # What the backend did (LLM requests, cache hits, retries, repairs, where a cascade sent READMEs):
        # the backend keeps running totals, and each sync adds what is new since the last one.
        self.backend_events = Counter("repotag_backend_events", "Backend events: LLM requests, answers, cache hits, "
                                      "retries, errors, repairs, cascade routing", ["event"], registry=registry)
        self.llm_seconds = Counter("repotag_llm_answer_seconds", "Time spent waiting for LLM answers that came",
                                   registry=registry)
        self._reported: dict[str, float] = {}
        self._lock = threading.Lock()

    def sync_backend(self, stats: dict[str, float]) -> None:
        """Add the backend's totals that are new since the last sync."""
        with self._lock:
            for event, total in stats.items():
                new = total - self._reported.get(event, 0)
                if new <= 0:
                    continue
                self._reported[event] = total
                if event == "latency_s":
                    self.llm_seconds.inc(new)
                else:
                    self.backend_events.labels(event).inc(new)

    def observe(self, path: str, status: int, seconds: float) -> None:
        self.requests.labels(path, str(status)).inc()
        self.latency.labels(path).observe(seconds)
        if status >= 400:
            self.errors.labels(path).inc()

    def render(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest

        if not self.multiprocess:
            return generate_latest(self.registry)
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The whole body, or ``None`` once it passes ``limit`` bytes."""
    pieces, size = [], 0
    async for piece in request.stream():
        size += len(piece)
        if size > limit:
            return None
        pieces.append(piece)
    return b"".join(pieces)


class GuardMiddleware(BaseHTTPMiddleware):
    """Body size limit, API key check and metrics, before any route runs."""

    def __init__(self, app, settings: Settings, metrics: Metrics, known_paths: set[str]):
        super().__init__(app)
        self.settings, self.metrics, self.known_paths = settings, metrics, known_paths

    async def dispatch(self, request: Request, call_next):
        started = time.perf_counter()
        path = request.url.path if request.url.path in self.known_paths else "other"
        response = await self._guarded(request, call_next)
        self.metrics.observe(path, response.status_code, time.perf_counter() - started)
        return response

    async def _guarded(self, request: Request, call_next):
        declared = request.headers.get("content-length")
        limit = self.settings.max_body_bytes
        too_large = f"request body exceeds {limit} bytes"
        if declared is not None and "transfer-encoding" in request.headers:
            # RFC 9112 6.3: a message with both is malformed (and a classic smuggling vector).
            return error_response(400, "request has both Content-Length and Transfer-Encoding")
        if declared is not None:
            if not declared.isdigit():
                return error_response(400, "invalid Content-Length header")
            if int(declared) > limit:
                return error_response(413, too_large)
        if request.method in ("POST", "PUT", "PATCH"):
            # The bytes actually received are counted, whatever the headers claim; a body that
            # stops arriving ends the request instead of holding it open.
            try:
                body = await asyncio.wait_for(_read_body(request, limit), self.settings.request_timeout_s)
            except asyncio.TimeoutError:
                return error_response(408, f"request body not received within {self.settings.request_timeout_s:g}s")
            if body is None:
                return error_response(413, too_large)
            request._body = body
        public = request.url.path in PUBLIC_PATHS or request.url.path.startswith(PUBLIC_PREFIX)
        if self.settings.api_key and not public:
            given = request.headers.get("authorization", "")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), self.settings.api_key.encode()):
                return error_response(401, "missing or invalid API key (send 'Authorization: Bearer KEY')",
                                      "authentication_error")
        return await call_next(request)


