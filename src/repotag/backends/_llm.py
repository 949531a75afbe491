"""The LLM backend: any OpenAI-compatible chat server, held to repotag's rules.

Each README becomes one chat request (temperature 0, the taxonomy as a JSON Schema where the
server takes one). The answer is held to the rules by :mod:`._llm_answer`; what cannot be read
gets one retry, then an error for that README alone. Timeouts, retries with backoff (honouring
``Retry-After``), a concurrency and a rate limit keep a slow or failing server from hanging a run;
an answer cache keeps a re-run from paying twice.
"""

from __future__ import annotations

import contextvars
import email.utils
import hashlib
import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Sequence

from .. import _deadline as deadline
from .._errors import BackendError, BackendTimeout, ConfigError, RepotagError
from .._extras import require_extra
from .._rules import DecisionPolicy
from .._taxonomy import Taxonomy
from ._base import Backend, Document, PolicyScores, Scores
from ._llm_answer import Answer, AnswerError, load_template, rank_scores, read_answer, render_prompt, response_format
from ._llm_cache import AnswerCache, default_cache_path

if TYPE_CHECKING:
    from .._config import Settings

#: Longest wait a server's ``Retry-After`` may ask for; longer asks are cut to this.
MAX_RETRY_AFTER_S = 60.0
#: Seconds an LLM request stops before the service's deadline, so the LLM's timeout (a 504) is what answers.
DEADLINE_MARGIN_S = 0.25
#: The answer shapes to try, in order, when the format is ``auto`` and the server refuses one.
_FORMAT_FALLBACK = {"json_schema": "json_object", "json_object": "text"}
_REREAD = ('Your answer could not be read ({problem}). Answer again with only the JSON object '
           '{{"tags": [...]}}, nothing else.')


class _FormatRefused(Exception):
    """The server answered 400 to a request that asked for an answer format."""


class _RateLimit:
    """At most ``rate`` request starts per second in this process (0: no limit)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


def _retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date), if it says."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _tries(attempt: int) -> str:
    return "1 try" if attempt == 0 else f"{attempt + 1} tries"


def _server_message(response: Any) -> str:
    """The error message an OpenAI-style error body carries, or the start of the body."""
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    text = str(message) if message else response.text
    return " ".join(text.split())[:200]


class LLMBackend(Backend):
    """Tags through an OpenAI-compatible chat-completions server.

    Scores are the LLM's order, not confidences: the k-th tag it names scores 1/k, the
    others 0 (so ``min_score`` 0.5 keeps its first two). A README the LLM finds nothing
    for gets ``[]``.
    """

    #: Every tag the LLM names is given (up to the limit); one named nothing gives none.
    policy = DecisionPolicy(threshold=0.01, min_top_score=0.01)

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, prompt: str = "default",
                 readme_chars: int = 6000, timeout_s: float = 60.0, retries: int = 3, concurrency: int = 4,
                 rate: float = 0.0, answer_format: str = "auto", cache: AnswerCache | None = None):
        require_extra("llm")
        import httpx

        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"LLM base URL must start with http:// or https:// (got {base_url!r})")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.name = f"llm:{model}"
        self.template = load_template(prompt)
        self.readme_chars, self.retries, self.concurrency = readme_chars, retries, concurrency
        self.timeout_s = timeout_s
        self.auto_format = answer_format == "auto"
        self.answer_format = "json_schema" if self.auto_format else answer_format
        self.cache = cache
        self._rate = _RateLimit(rate)
        self._stats: Counter = Counter()
        self._lock = threading.Lock()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            headers=headers, timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )

    @classmethod
    def load(cls, settings: "Settings", **options: Any) -> "LLMBackend":
        """From ``settings``; keyword options are ``Settings`` fields of the LLM (``llm_base_url=...``)."""
        settings = with_llm_options(settings, options, "llm")
        if not settings.llm_base_url:
            raise ConfigError("the LLM backend needs a server: --llm-base-url URL (or REPOTAG_LLM_BASE_URL)")
        if not settings.llm_model:
            raise ConfigError("the LLM backend needs a model name: --llm-model NAME (or REPOTAG_LLM_MODEL)")
        cache = AnswerCache(settings.llm_cache or default_cache_path()) if settings.llm_use_cache else None
        return cls(
            settings.llm_base_url, settings.llm_model, api_key=settings.llm_api_key, prompt=settings.llm_prompt,
            readme_chars=settings.llm_readme_chars, timeout_s=settings.llm_timeout_s, retries=settings.llm_retries,
            concurrency=settings.llm_concurrency, rate=settings.llm_rate, answer_format=settings.llm_format,
            cache=cache,
        )

    def stats(self) -> dict[str, float]:
        with self._lock:
            return dict(self._stats)

    def _count(self, key: str, amount: float = 1) -> None:
        with self._lock:
            self._stats[key] += amount

    # ---- scoring ---------------------------------------------------------------
    def score(self, documents: Sequence[Document], taxonomy: Taxonomy) -> list[Scores | RepotagError]:
        if len(documents) <= 1:
            return [self._row(d, taxonomy) for d in documents]
        with ThreadPoolExecutor(min(self.concurrency, len(documents))) as pool:
            # Each task carries the caller's context: the service's request deadline with it.
            futures = [pool.submit(contextvars.copy_context().run, self._row, d, taxonomy) for d in documents]
            return [future.result() for future in futures]

    def _row(self, document: Document, taxonomy: Taxonomy) -> Scores | RepotagError:
        try:
            answer = self.answer(document, taxonomy)
        except RepotagError as exc:
            self._count("errors")
            return exc
        if not answer.tags:
            return None
        return PolicyScores(rank_scores(answer.tags, taxonomy), self.policy)

    def answer(self, document: Document, taxonomy: Taxonomy) -> Answer:
        """The LLM's tags for one README: from the cache, or asked (with one retry for an unreadable answer)."""
        limit = min(document.max_tags or 3, len(taxonomy))
        prompt = render_prompt(self.template, document.text[: self.readme_chars], taxonomy, limit, document.id,
                               document.name)
        key = hashlib.sha256(json.dumps([self.model, prompt, taxonomy.to_list(), limit]).encode()).hexdigest()
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            try:
                answer = read_answer(cached, taxonomy, limit)
                self._count("cache_hits")
                return answer
            except AnswerError:
                pass  # written by an older reader; ask again
        messages = [{"role": "user", "content": prompt}]
        content = ""
        try:
            content = self._complete(messages, taxonomy, limit)
            answer = read_answer(content, taxonomy, limit)
        except AnswerError as problem:
            self._count("unreadable_answers")
            retry = messages + [{"role": "assistant", "content": content},
                                {"role": "user", "content": _REREAD.format(problem=problem)}]
            try:
                content = self._complete(retry, taxonomy, limit)
                answer = read_answer(content, taxonomy, limit)
            except AnswerError as again:
                raise BackendError(f"the LLM's answer could not be read, twice: {again}") from None
        for repair, count in answer.repairs.items():
            self._count(f"repaired_{repair}", count)
        if self.cache is not None:
            self.cache.put(key, self.model, content)
        return answer

    # ---- one request ---------------------------------------------------------------
    def _complete(self, messages: list[dict], taxonomy: Taxonomy, limit: int) -> str:
        """The answer text of one chat completion; the answer format steps down if the server refuses it."""
        while True:
            body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": 0}
            shape = response_format(self.answer_format, taxonomy, limit)
            if shape is not None:
                body["response_format"] = shape
            try:
                data = self._post(body, may_refuse_format=self.auto_format and shape is not None)
            except _FormatRefused:
                self.answer_format = _FORMAT_FALLBACK[self.answer_format]
                self._count("format_fallbacks")
                continue
            try:
                content = data["choices"][0]["message"]["content"]
            except (KeyError, IndexError, TypeError):
                content = None
            if not isinstance(content, str):
                raise AnswerError("the server's reply has no answer text")
            return content

    def _post(self, body: dict, may_refuse_format: bool) -> dict:
        """POST with timeouts and retries; raises :class:`BackendError` when no answer came."""
        import httpx

        tries = self.retries + 1
        for attempt in range(tries):
            last = attempt == tries - 1
            timeout = self._time_left(self.timeout_s)
            self._rate.wait()
            started = time.monotonic()
            self._count("requests")
            try:
                response = self._client.post(self.url, json=body, timeout=timeout)
            except httpx.TimeoutException:
                self._count("timeouts")
                failure = BackendTimeout(f"the LLM server did not answer within {round(timeout, 2):g}s ({_tries(attempt)})")
                if last:
                    raise failure from None
                self._pause(attempt, None, failure)
                continue
            except httpx.TransportError as exc:
                self._count("connection_errors")
                failure = BackendError(f"cannot reach the LLM server at {self.url}: {exc or type(exc).__name__} "
                                       f"({_tries(attempt)})")
                if last:
                    raise failure from None
                self._pause(attempt, None, failure)
                continue
            status = response.status_code
            if status == 429 or status >= 500:
                self._count(f"http_{status}")
                failure = BackendError(f"the LLM server answered {status}: {_server_message(response)} "
                                       f"({_tries(attempt)})")
                if last:
                    raise failure
                self._pause(attempt, _retry_after(response.headers.get("retry-after")), failure)
                continue
            if status == 400 and may_refuse_format:
                raise _FormatRefused()
            if status >= 400:
                raise BackendError(f"the LLM server answered {status}: {_server_message(response)}")
            self._count("latency_s", time.monotonic() - started)
            self._count("answers")
            try:
                return response.json()
            except ValueError:
                return {}  # read as a reply without answer text
        raise AssertionError("unreachable")

    def _time_left(self, wanted: float) -> float:
        """``wanted`` seconds, cut to what is left of the request's deadline (the service sets one)."""
        left = deadline.remaining()
        if left is None:
            return wanted
        left -= DEADLINE_MARGIN_S
        if left <= 0:
            raise BackendTimeout("the request's time ran out before the LLM answered")
        return min(wanted, left)

    def _pause(self, attempt: int, asked: float | None, failure: BackendError) -> None:
        """Wait before a retry: what the server asked for, else exponential backoff with jitter.

        A wait that would pass the request's deadline ends the tries with the last ``failure``.
        """
        wait = asked if asked is not None else min(8.0, 0.5 * 2**attempt) * random.uniform(0.75, 1.25)
        left = deadline.remaining()
        if left is not None and wait >= left - DEADLINE_MARGIN_S:
            raise failure
        self._count("retries")
        time.sleep(wait)


def with_llm_options(settings: "Settings", options: dict, backend: str) -> "Settings":
    """``settings`` with a caller's keyword options (``llm_*`` fields of :class:`Settings`) applied."""
    known = {f.name for f in fields(settings) if f.name.startswith("llm_")}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unexpected option(s) for the {backend} backend: {', '.join(unknown)} "
                        f"(it takes: {', '.join(sorted(known))})")
    return settings.with_overrides(**options)
