"""The API's routes, in three routers; each gets the tagger and settings through dependencies."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from .. import __version__
from .. import _deadline as deadline
from .._config import Settings
from .._errors import BackendError, BackendTimeout, PromptError, RepotagError
from .._prompt import parse_prompt
from .._rules import check_max_tags
from .._tagger import Tagger
from .._taxonomy import Taxonomy
from ._errors import ApiError
from ._schemas import BatchRequest, BatchResponse, ChatMessage, ChatRequest, TagRequest, TagResponse


def get_tagger(request: Request) -> Tagger:
    """The tagger loaded at start-up (or given to :func:`create_app`)."""
    state = request.app.state
    if state.tagger is None:  # only when used without the lifespan (never under uvicorn)
        state.tagger = state.load_tagger()
    return state.tagger


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


TaggerDep = Annotated[Tagger, Depends(get_tagger)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def run_tagging(request: Request, function, *args, **kwargs):
    """Run blocking tagging work in a thread, bounded by the request timeout.

    A remote backend's failure is the upstream's, not the client's: 502, or 504 when it timed out.
    """
    from starlette.concurrency import run_in_threadpool

    settings: Settings = request.app.state.settings
    limit = settings.request_timeout_s

    def bounded():
        # The deadline lives in the worker thread's context: the work stops itself
        # when the request has timed out (a thread cannot be killed from outside).
        with deadline.within(limit):
            return function(*args, **kwargs)

    try:
        return await asyncio.wait_for(run_in_threadpool(bounded), limit)
    except (asyncio.TimeoutError, deadline.DeadlineExceeded):
        raise ApiError(503, f"tagging took longer than {limit:g}s", "timeout_error") from None
    except BackendTimeout as exc:
        raise ApiError(504, str(exc), "upstream_timeout_error") from None
    except BackendError as exc:
        raise ApiError(502, str(exc), "upstream_error") from None
    except RepotagError as exc:
        raise ApiError(400, str(exc)) from None
    finally:
        sync_backend_metrics(request)


def sync_backend_metrics(request: Request) -> None:
    """Bring the metrics up to the backend's running totals (LLM calls, repairs, cascade routing)."""
    backend = getattr(request.app.state.tagger, "backend", None)
    if backend is not None:
        request.app.state.metrics.sync_backend(backend.stats())


def taxonomy_from(items) -> Taxonomy | None:
    if items is None:
        return None
    raw = [item if isinstance(item, str) else item.model_dump(exclude_none=True) for item in items]
    try:
        return Taxonomy.from_json(raw)
    except RepotagError as exc:
        raise ApiError(422, f"taxonomy: {exc}") from None


ops = APIRouter(tags=["ops"])
tagging = APIRouter(prefix="/v1", tags=["tagging"])
openai_api = APIRouter(prefix="/v1", tags=["openai"])


@ops.get("/healthz")
async def healthz(request: Request) -> dict:
    """Liveness: the model is loaded and the service answers."""
    return {"status": "ok", "model_loaded": request.app.state.tagger is not None, "version": __version__}


ops.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)  # load balancers probe with HEAD


@ops.get("/metrics", response_class=Response)
async def prometheus_metrics(request: Request) -> Response:
    """Request counts, errors, latency and backend events (LLM calls, cascade routing) in Prometheus text format."""
    sync_backend_metrics(request)
    return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")


@tagging.get("/taxonomy")
async def get_taxonomy(tagger: TaggerDep) -> list[dict]:
    """The tag list used when a request brings none."""
    return tagger.taxonomy.to_list()


def checked_limit(max_tags: int | None, taxonomy: Taxonomy | None, tagger: Tagger) -> int | None:
    """The request's tag limit, checked against its taxonomy: a bad one is a 422 like any bad field."""
    if max_tags is None:
        return None
    try:
        return check_max_tags(max_tags, taxonomy or tagger.taxonomy)
    except RepotagError as exc:
        raise ApiError(422, str(exc)) from None


@tagging.post("/tag", response_model=TagResponse)
async def tag(request: TagRequest, tagger: TaggerDep, http: Request) -> JSONResponse:
    """Tag one README: ``{"id", "tags": [{"id", "name"}]}`` (a ``null`` id is echoed as ``null``)."""
    taxonomy = taxonomy_from(request.taxonomy)
    result = await run_tagging(
        http, tagger.tag, request.readme, request.id,
        taxonomy=taxonomy, max_tags=checked_limit(request.max_tags, taxonomy, tagger), min_score=request.min_score,
    )
    return JSONResponse(result.to_dict(request.scores))


@tagging.post("/tag/batch", response_model=BatchResponse)
async def tag_batch(request: BatchRequest, tagger: TaggerDep, settings: SettingsDep, http: Request) -> dict:
    """Tag several READMEs; a bad item gets ``{"id", "error"}`` and the rest are tagged."""
    if len(request.items) > settings.max_batch_items:
        raise ApiError(413, f"at most {settings.max_batch_items} items per batch request")
    taxonomy = taxonomy_from(request.taxonomy)
    limit = checked_limit(request.max_tags, taxonomy, tagger)
    records = [{"id": item.id, "readme": item.readme} for item in request.items]

    def tag_all():
        results = tagger.tag_many(records, taxonomy=taxonomy, max_tags=limit, errors="record",
                                  min_score=request.min_score)
        return [r.to_dict(request.scores) for r in results]

    return {"results": await run_tagging(http, tag_all)}


@openai_api.get("/models")
async def list_models(tagger: TaggerDep) -> dict:
    """The model this server runs: the name to send to ``/v1/chat/completions``."""
    model = {"id": tagger.name, "object": "model", "created": 0, "owned_by": "repotag"}
    return {"object": "list", "data": [model]}


@openai_api.post("/chat/completions")
async def chat_completions(request: ChatRequest, tagger: TaggerDep, http: Request) -> dict:
    """OpenAI-compatible: a user message holding a tagging prompt gets the expected JSON as its reply."""
    if request.stream:
        raise ApiError(400, "streaming is not supported: send stream=false")
    text = _last_user_text(request.messages)
    try:
        prompt = parse_prompt(text)
    except PromptError as exc:
        raise ApiError(400, str(exc)) from None
    result = await run_tagging(http, tagger.tag_prompt, prompt)
    content = json.dumps(result.to_dict(), ensure_ascii=False)
    prompt_tokens = max(1, len(text) // 4)
    completion_tokens = max(1, len(content) // 4)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop", "logprobs": None}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _last_user_text(messages: list[ChatMessage]) -> str:
    for message in reversed(messages):
        if message.role != "user":
            continue
        if isinstance(message.content, str):
            return message.content
        if isinstance(message.content, list):
            return "\n".join(part.text or "" for part in message.content if part.type == "text")
    raise ApiError(400, "no user message with text content")
