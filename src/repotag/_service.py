"""The HTTP service: a REST API and an OpenAI-compatible chat-completions endpoint.

Both go through the same :class:`~repotag.Tagger` as the CLI. Bad input is
always a 4xx with a JSON body ``{"error": {"message", "type"}}`` (the shape
OpenAI clients read), never a 500.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any, Literal, Optional, Union

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware

from . import __version__
from ._config import Settings
from ._errors import PromptError, RepotagError
from ._prompt import parse_prompt
from ._taxonomy import Taxonomy

MODEL_NAME = "repotag-default"
PUBLIC_PATHS = {"/healthz", "/metrics", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"}


# ---- request and response models -------------------------------------------
class TagIn(BaseModel):
    id: Union[int, str]
    name: str
    description: Optional[str] = None


TagId = Union[int, str, None]


class TagRequest(BaseModel):
    """One README to tag. ``taxonomy`` replaces the default tag list for this request."""

    model_config = ConfigDict(extra="forbid")
    id: TagId = None
    readme: str
    taxonomy: Optional[list[Union[TagIn, str]]] = Field(default=None, min_length=1)
    max_tags: Optional[int] = Field(default=None, ge=1)
    scores: bool = False


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: TagId = None
    readme: str


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[BatchItem] = Field(min_length=1)
    taxonomy: Optional[list[Union[TagIn, str]]] = Field(default=None, min_length=1)
    max_tags: Optional[int] = Field(default=None, ge=1)
    scores: bool = False


class TagOut(BaseModel):
    id: Union[int, str]
    name: str
    score: Optional[float] = None


class TagResponse(BaseModel):
    id: TagId = None
    tags: list[TagOut]


class BatchResponse(BaseModel):
    results: list[dict[str, Any]]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: Optional[str] = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: Union[str, list[ContentPart], None] = None


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text", "json_object", "json_schema"]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = MODEL_NAME
    messages: list[ChatMessage] = Field(min_length=1)
    response_format: Optional[ResponseFormat] = None
    stream: Optional[bool] = False
    n: Optional[int] = Field(default=1, ge=1, le=1)


# ---- errors -----------------------------------------------------------------
class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return f"{where}: {first.get('msg', 'invalid request')}" if where else first.get("msg", "invalid request")


# ---- metrics ----------------------------------------------------------------
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
        if declared is not None:
            if not declared.isdigit():
                return _error(400, "invalid Content-Length header")
            if int(declared) > self.settings.max_body_bytes:
                return _error(413, f"request body exceeds {self.settings.max_body_bytes} bytes")
        elif request.method in ("POST", "PUT", "PATCH"):
            # Chunked bodies are counted as they arrive.
            body = b""
            async for piece in request.stream():
                body += piece
                if len(body) > self.settings.max_body_bytes:
                    return _error(413, f"request body exceeds {self.settings.max_body_bytes} bytes")
            request._body = body
        if self.settings.api_key and request.url.path not in PUBLIC_PATHS:
            given = request.headers.get("authorization", "")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), self.settings.api_key.encode()):
                return _error(401, "missing or invalid API key (send 'Authorization: Bearer KEY')", "authentication_error")
        return await call_next(request)


# ---- the app ----------------------------------------------------------------
def create_app(settings: Settings | None = None, tagger=None) -> FastAPI:
    """Build the app; the model loads once at start-up (or use the given ``tagger``)."""
    settings = settings or Settings.from_env()
    metrics = Metrics()
    state: dict[str, Any] = {"tagger": tagger}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if state["tagger"] is None:
            from ._model import use_one_blas_thread
            from ._tagger import Tagger

            use_one_blas_thread()  # requests already run in parallel threads
            state["tagger"] = Tagger.load(settings.model, max_tags=settings.max_tags, settings=settings)
        yield

    app = FastAPI(
        title="repotag",
        version=__version__,
        description="Tag software repositories from their README with at most N tags from a controlled list.",
        lifespan=lifespan,
    )

    def current_tagger():
        if state["tagger"] is None:  # only when used without the lifespan (never under uvicorn)
            from ._tagger import Tagger

            state["tagger"] = Tagger.load(settings.model, max_tags=settings.max_tags, settings=settings)
        return state["tagger"]

    async def run_tagging(function, *args, **kwargs):
        from starlette.concurrency import run_in_threadpool

        try:
            return await asyncio.wait_for(run_in_threadpool(function, *args, **kwargs), settings.request_timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(503, f"tagging took longer than {settings.request_timeout_s:g}s", "timeout_error") from None
        except RepotagError as exc:
            raise ApiError(400, str(exc)) from None

    def taxonomy_from(items) -> Taxonomy | None:
        if items is None:
            return None
        raw = [item if isinstance(item, str) else item.model_dump(exclude_none=True) for item in items]
        try:
            return Taxonomy.from_json(raw)
        except RepotagError as exc:
            raise ApiError(422, f"taxonomy: {exc}") from None

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError):
        return _error(exc.status, exc.message, exc.kind)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError):
        return _error(422, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return _error(exc.status_code, str(exc.detail), kind)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict:
        """Liveness: the model is loaded and the service answers."""
        return {"status": "ok", "model_loaded": state["tagger"] is not None, "version": __version__}

    @app.get("/metrics", tags=["ops"], response_class=Response)
    async def prometheus_metrics() -> Response:
        """Request counts, errors and latency in Prometheus text format."""
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/taxonomy", tags=["tagging"])
    async def get_taxonomy() -> list[dict]:
        """The tag list used when a request brings none."""
        return current_tagger().taxonomy.to_list()

    @app.post("/v1/tag", tags=["tagging"], response_model=TagResponse, response_model_exclude_none=True)
    async def tag(request: TagRequest) -> dict:
        """Tag one README: ``{"id", "tags": [{"id", "name"}]}``."""
        tagger = current_tagger()
        result = await run_tagging(
            tagger.tag, request.readme, request.id,
            taxonomy=taxonomy_from(request.taxonomy), max_tags=request.max_tags,
        )
        return result.to_dict(request.scores)

    @app.post("/v1/tag/batch", tags=["tagging"], response_model=BatchResponse)
    async def tag_batch(request: BatchRequest) -> dict:
        """Tag several READMEs; a bad item gets ``{"id", "error"}`` and the rest are tagged."""
        if len(request.items) > settings.max_batch_items:
            raise ApiError(413, f"at most {settings.max_batch_items} items per batch request")
        tagger = current_tagger()
        taxonomy = taxonomy_from(request.taxonomy)
        records = [{"id": item.id, "readme": item.readme} for item in request.items]

        def tag_all():
            results = tagger.tag_many(records, taxonomy=taxonomy, max_tags=request.max_tags, errors="record")
            return [r.to_dict(request.scores) for r in results]

        return {"results": await run_tagging(tag_all)}

    @app.get("/v1/models", tags=["openai"])
    async def list_models() -> dict:
        """The model name to send to ``/v1/chat/completions``."""
        model = {"id": MODEL_NAME, "object": "model", "created": 0, "owned_by": "repotag"}
        return {"object": "list", "data": [model]}

    @app.post("/v1/chat/completions", tags=["openai"])
    async def chat_completions(request: ChatRequest) -> dict:
        """OpenAI-compatible: a user message holding a tagging prompt gets the expected JSON as its reply."""
        if request.stream:
            raise ApiError(400, "streaming is not supported: send stream=false")
        text = _last_user_text(request.messages)
        try:
            prompt = parse_prompt(text)
        except PromptError as exc:
            raise ApiError(400, f"not a tagging prompt: {exc}") from None
        result = await run_tagging(current_tagger().tag_prompt, prompt)
        content = json.dumps(result.to_dict(), ensure_ascii=False)
        prompt_tokens = max(1, len(text) // 4)
        completion_tokens = max(1, len(content) // 4)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    known = {route.path for route in app.routes}
    app.add_middleware(GuardMiddleware, settings=settings, metrics=metrics, known_paths=known)
    return app


def _last_user_text(messages: list[ChatMessage]) -> str:
    for message in reversed(messages):
        if message.role != "user":
            continue
        if isinstance(message.content, str):
            return message.content
        if isinstance(message.content, list):
            return "\n".join(part.text or "" for part in message.content if part.type == "text")
    raise ApiError(400, "no user message with text content")


def run_server(host: str, port: int, workers: int = 1, log_level: str = "info") -> None:
    """Serve the app from the environment's settings with uvicorn, in ``workers`` processes."""
    import uvicorn

    target = "repotag._service:create_app"
    if workers == 1:
        uvicorn.run(target, factory=True, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
        return
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(target, factory=True, host=host, port=port, workers=workers, log_level=log_level,
                            timeout_graceful_shutdown=5)
    sock = listening_socket(host, port)
    print(f"repotag serving on http://{host}:{port} with {workers} workers", flush=True)
    Multiprocess(config, sockets=[sock]).run()


def listening_socket(host: str, port: int):
    """A bound TCP socket that worker processes can share.

    uvicorn binds its multi-worker socket with protocol 0, and asyncio sets TCP_NODELAY
    only on IPPROTO_TCP sockets: with Nagle left on, each keep-alive reply waited ~40 ms
    for a delayed ACK (p50 60 ms instead of 15). Made with IPPROTO_TCP, accepted
    connections get TCP_NODELAY.
    """
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock
