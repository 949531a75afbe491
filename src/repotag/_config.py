"""Configuration: one validated object, and the one place that reads environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping, Optional

from ._errors import ConfigError

ENV_PREFIX = "REPOTAG_"
#: How the LLM backend may ask for the answer's shape.
LLM_FORMATS = ("auto", "json_schema", "json_object", "text")


@dataclass(frozen=True)
class Settings:
    """Settings shared by the library, CLI, batch engine and service.

    Validated on construction; :meth:`from_env` overlays ``REPOTAG_*`` variables.
    """

    #: Backend that scores READMEs: ``embedded`` (default) or one registered under ``repotag.backends``.
    backend: str = "embedded"
    #: Model directory; ``None`` is the embedded default model.
    model: Optional[Path] = None
    #: Most tags per README.
    max_tags: int = 3
    #: No tag scoring under this (0-1) is given, so a README nothing fits gets ``[]``; 0 always gives one.
    #: ``None``: the backend's default (embedded: 0 for the tags it was trained on, 0.1 when a taxonomy
    #: brings tags it scores zero-shot).
    min_score: Optional[float] = None
    #: Threads the encoder may use in one process; 0 lets the runtime decide.
    threads: int = 0
    #: The encoder's threads spin while they wait for work. Measured here: 52 vs 45 READMEs/s for a long
    #: ``tag_many``, but a lone README took 40 vs 26 ms (the spinning threads fight numpy's), and concurrent
    #: requests lose cores to it; so it is off unless asked for (``REPOTAG_ENCODER_SPINNING=1``), and
    #: ``repotag serve`` keeps it off.
    encoder_spinning: bool = False
    #: READMEs encoded together.
    batch_size: int = 32
    #: Service: largest accepted request body, in bytes.
    max_body_bytes: int = 2_000_000
    #: Service: most items in one ``/v1/tag/batch`` request.
    max_batch_items: int = 64
    #: Service: seconds a request may take before it is answered 503 (its body arriving: 408).
    request_timeout_s: float = 30.0
    #: Service: seconds a connection may take to send a whole request head before it is closed.
    request_head_timeout_s: float = 10.0
    #: Service: bearer token required on every API call, if set.
    api_key: Optional[str] = field(default=None, repr=False)
    #: LLM backend: the server's OpenAI-compatible base URL (``http://127.0.0.1:8080/v1``).
    llm_base_url: Optional[str] = None
    #: LLM backend: the model name sent with each request.
    llm_model: Optional[str] = None
    #: LLM backend: the API key; read from ``REPOTAG_LLM_API_KEY`` or ``OPENAI_API_KEY``, never an option.
    llm_api_key: Optional[str] = field(default=None, repr=False)
    #: LLM backend: the prompt template, ``default``, ``seed`` (the prompt format users paste today) or a file.
    llm_prompt: str = "default"
    #: LLM backend: README characters sent (the gold annotators read the first 6,000).
    llm_readme_chars: int = 6000
    #: LLM backend: seconds to wait for an answer (connecting: at most 10).
    llm_timeout_s: float = 60.0
    #: LLM backend: retries after a timeout, a refused connection, a 429 or a 5xx.
    llm_retries: int = 3
    #: LLM backend: requests in flight at once, per process.
    llm_concurrency: int = 4
    #: LLM backend: most requests per second, per process (a batch or server splits it across its workers); 0: no limit.
    llm_rate: float = 0.0
    #: LLM backend: how the answer's shape is asked for: ``auto`` (JSON Schema, falling back to JSON mode, then
    #: the prompt alone, as the server allows), ``json_schema``, ``json_object`` or ``text``.
    llm_format: str = "auto"
    #: LLM backend: the answer cache (SQLite); ``None``: ``$XDG_CACHE_HOME/repotag/llm-answers.sqlite3``.
    llm_cache: Optional[Path] = None
    #: LLM backend: use the answer cache.
    llm_use_cache: bool = True
    #: Cascade: READMEs whose top score from the embedded model is under this go to the LLM.
    llm_below: float = 0.5

    def __post_init__(self) -> None:
        if self.model is not None and not isinstance(self.model, Path):
            object.__setattr__(self, "model", Path(self.model))
        _require(bool(self.backend), "backend must not be empty")
        _require(self.max_tags >= 1, "max_tags must be at least 1")
        _require(self.min_score is None or 0.0 <= self.min_score <= 1.0, "min_score must be between 0 and 1")
        _require(self.threads >= 0, "threads must be 0 (automatic) or more")
        _require(self.batch_size >= 1, "batch_size must be at least 1")
        _require(self.max_body_bytes >= 1024, "max_body_bytes must be at least 1024")
        _require(self.max_batch_items >= 1, "max_batch_items must be at least 1")
        _require(self.request_timeout_s > 0, "request_timeout_s must be positive")
        _require(self.request_head_timeout_s > 0, "request_head_timeout_s must be positive")
        _require(self.api_key is None or len(self.api_key) > 0, "api_key must not be empty")
        if self.llm_cache is not None and not isinstance(self.llm_cache, Path):
            object.__setattr__(self, "llm_cache", Path(self.llm_cache))
        _require(self.llm_readme_chars >= 100, "llm_readme_chars must be at least 100")
        _require(self.llm_timeout_s > 0, "llm_timeout_s must be positive")
        _require(0 <= self.llm_retries <= 20, "llm_retries must be between 0 and 20")
        _require(1 <= self.llm_concurrency <= 256, "llm_concurrency must be between 1 and 256")
        _require(self.llm_rate >= 0, "llm_rate must be 0 (no limit) or more")
        _require(self.llm_format in LLM_FORMATS, f"llm_format must be one of {', '.join(LLM_FORMATS)}")
        _require(0.0 <= self.llm_below <= 1.0, "llm_below must be between 0 and 1")

    def with_overrides(self, **values) -> "Settings":
        """A copy with the given values replaced; ``None`` values are ignored."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """Settings from ``REPOTAG_<FIELD>`` variables (e.g. ``REPOTAG_MAX_TAGS``), then overrides."""
        environ = os.environ if environ is None else environ
        values = {}
        for known in fields(cls):
            raw = environ.get(ENV_PREFIX + known.name.upper())
            if raw is None or raw == "":
                continue
            values[known.name] = _parse(known.name, raw)
        if "llm_api_key" not in values and environ.get("OPENAI_API_KEY"):
            values["llm_api_key"] = environ["OPENAI_API_KEY"]  # the variable OpenAI's own clients read
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _flag(raw: str) -> bool:
    return {"1": True, "true": True, "0": False, "false": False}[raw.strip().lower()]


_CASTS = {
    "backend": str,
    "model": Path,
    "max_tags": int,
    "min_score": float,
    "threads": int,
    "encoder_spinning": _flag,
    "batch_size": int,
    "max_body_bytes": int,
    "max_batch_items": int,
    "request_timeout_s": float,
    "request_head_timeout_s": float,
    "api_key": str,
    "llm_base_url": str,
    "llm_model": str,
    "llm_api_key": str,
    "llm_prompt": str,
    "llm_readme_chars": int,
    "llm_timeout_s": float,
    "llm_retries": int,
    "llm_concurrency": int,
    "llm_rate": float,
    "llm_format": str,
    "llm_cache": Path,
    "llm_use_cache": _flag,
    "llm_below": float,
}


def _parse(name: str, raw: str):
    try:
        return _CASTS[name](raw)
    except (ValueError, KeyError):
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid value") from None


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
