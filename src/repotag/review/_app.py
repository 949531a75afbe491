"""The review page: server-rendered HTML, a small script, every asset from the package (works offline)."""

from __future__ import annotations

import html
import json
from importlib import resources
from string import Template
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from .._errors import RepotagError
from ._export import EXPORTS
from ._session import ORDERS, ReviewSession

_ASSETS = {"review.js": "text/javascript", "review.css": "text/css"}


def _asset(name: str) -> str:
    return resources.files("repotag.review").joinpath("assets").joinpath(name).read_text(encoding="utf-8")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status_code=status)


def create_review_app(session: ReviewSession) -> FastAPI:
    """The review app over one session."""
    app = FastAPI(title="repotag review", docs_url=None, redoc_url=None, openapi_url=None)
    page = Template(_asset("page.html"))

    @app.get("/", response_class=HTMLResponse)
    def review_page(order: str = "confidence", tag: str = "", reviewed: bool = False) -> HTMLResponse:
        order = order if order in ORDERS else "confidence"
        queue = session.queue(order, tag or None, include_reviewed=reviewed)
        progress = session.progress()
        return HTMLResponse(page.substitute(
            title=html.escape(queue[0].name if queue else "done"),
            reviewed=progress["reviewed"], total=progress["total"], remaining=len(queue),
            acceptance="-" if progress["acceptance_rate"] is None else f"{progress['acceptance_rate']:.0%}",
            order_options="".join(f'<option value="{o}"{" selected" if o == order else ""}>{o}</option>' for o in ORDERS),
            tag_filter=html.escape(tag), reviewed_checked=" checked" if reviewed else "",
            content=_item_html(session, queue),
            corrections=_corrections_html(progress["corrections"]),
            taxonomy_options="".join(f'<option value="{html.escape(t.name)}">' for t in session.taxonomy),
        ))

    @app.get("/assets/{name}")
    def asset(name: str) -> Response:
        if name not in _ASSETS:
            return _error(404, f"no asset {name!r}")
        return Response(_asset(name), media_type=_ASSETS[name])

    @app.post("/api/decisions")
    async def decide(request: Request) -> JSONResponse:
        body = await _json(request)
        if isinstance(body, JSONResponse):
            return body
        tags = body.get("tags")
        if not isinstance(tags, list):
            return _error(422, "'tags' must be a list of tag names")
        try:
            row = session.decide(str(body.get("key")), tags)
        except RepotagError as exc:
            return _error(422, str(exc))
        return JSONResponse({"decision": row["decision"], "tags": row["tags"], **_counts(session)})

    @app.post("/api/skip")
    async def skip(request: Request) -> JSONResponse:
        body = await _json(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            session.skip(str(body.get("key")))
        except RepotagError as exc:
            return _error(422, str(exc))
        return JSONResponse(_counts(session))

    @app.get("/api/state")
    def state(order: str = "confidence", tag: str = "") -> dict:
        queue = session.queue(order if order in ORDERS else "confidence", tag or None)
        return {**session.progress(), "queue": [item.id for item in queue]}

    @app.get("/export/{name}.json")
    def export(name: str) -> Response:
        if name not in EXPORTS:
            return _error(404, f"no export {name!r} (there are: {', '.join(EXPORTS)})")
        return JSONResponse(EXPORTS[name](session.decisions.values()),
                            headers={"Content-Disposition": f'attachment; filename="reviewed-{name}.json"'})

    return app


async def _json(request: Request) -> Any:
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "request body is not valid JSON")
    return body if isinstance(body, dict) else _error(422, "request body must be a JSON object")


def _counts(session: ReviewSession) -> dict:
    progress = session.progress()
    return {"reviewed": progress["reviewed"], "total": progress["total"]}


def _item_html(session: ReviewSession, queue: list) -> str:
    if not queue:
        return '<p class="done">Nothing left in this queue. Train on the labels with <code>repotag train</code>.</p>'
    view = session.view(queue[0])
    rows = "".join(
        f'<tr><td><strong>{html.escape(s["name"])}</strong></td><td>{s["score"]:.2f}</td>'
        f'<td class="why">{html.escape(_why(s))}</td></tr>' for s in view["suggested"]
    ) or '<tr><td colspan="3">no suggestion</td></tr>'
    return (
        f'<section class="item" id="item" data-key="{html.escape(view["key"])}" '
        f'data-max-tags="{session.tagger.max_tags}" data-locked="{str(view["locked"]).lower()}" '
        f"data-tags='{html.escape(json.dumps(view['tags']))}'>"
        f'<h2>{html.escape(view["name"])}</h2>'
        f'<p class="meta">id {html.escape(json.dumps(view["id"]))} · top confidence {view["confidence"]:.2f}</p>'
        f'<table class="suggestions"><tr><th>suggested</th><th>confidence</th><th>why</th></tr>{rows}</table>'
        f'<div class="tags" id="tags"></div>'
        f'<p><input id="add-tag" list="taxonomy" placeholder="add a tag (t)" autocomplete="off"> '
        f'<span id="message"></span></p>'
        f'<p class="actions"><button id="save" type="button">Save (a)</button>'
        f'<button id="skip" type="button">Skip (s)</button></p>'
        f'<h3>What the model read</h3>'
        f'<div class="text"><span class="read">{html.escape(view["read"])}</span>'
        f'<span class="rest">{html.escape(view["rest"])}</span></div>'
        f"</section>"
    )


def _why(suggestion: dict) -> str:
    parts = []
    if suggestion["phrases"]:
        parts.append("words: " + ", ".join(suggestion["phrases"]))
    if suggestion["neighbours"]:
        parts.append("like reviewed " + ", ".join(suggestion["neighbours"]))
    return "; ".join(parts)


def _corrections_html(corrections: dict) -> str:
    if not corrections:
        return "<p>none yet</p>"
    rows = "".join(f"<tr><td>{html.escape(tag)}</td><td>{c['added']}</td><td>{c['removed']}</td></tr>"
                   for tag, c in list(corrections.items())[:15])
    return f"<table><tr><th>tag</th><th>added</th><th>removed</th></tr>{rows}</table>"
