"""What runs before any route: body size limit, API key check, and Prometheus metrics."""

from __future__ import annotations

import hmac
import time

from fastapi import Request
from starlette.middleware.base import BaseHTTPMiddleware

from .._config import Settings
from ._errors import error_response

#: Paths served without the API key.
PUBLIC_PATHS = {"/healthz", "/metrics", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"}


class Metrics:
    """Prometheus counters and a latency histogram, in a registry of this app's own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("repotag_requests", "HTTP requests", ["path", "status"], registry=self.registry)
        self.errors = Counter("repotag_errors", "HTTP requests answered 4xx or 5xx", ["path"], registry=self.registry)
        self.latency = Histogram(
            "repotag_request_seconds", "Request latency", ["path"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    def observe(self, path: str, status: int, seconds: float) -> None:
        self.requests.labels(path, str(status)).inc()
        self.latency.labels(path).observe(seconds)
        if status >= 400:
            self.errors.labels(path).inc()

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


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
            # The bytes actually received are counted, whatever the headers claim.
            pieces, size = [], 0
            async for piece in request.stream():
                size += len(piece)
                if size > limit:
                    return error_response(413, too_large)
                pieces.append(piece)
            request._body = b"".join(pieces)
        if self.settings.api_key and request.url.path not in PUBLIC_PATHS:
            given = request.headers.get("authorization", "")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), self.settings.api_key.encode()):
                return error_response(401, "missing or invalid API key (send 'Authorization: Bearer KEY')",
                                      "authentication_error")
        return await call_next(request)


