"""Configuration: one validated object, and the one place that reads environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Mapping, Optional

from ._errors import ConfigError

ENV_PREFIX = "REPOTAG_"


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
    min_score: float = 0.0
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
    #: Service: seconds a request may take before it is answered 503.
    request_timeout_s: float = 30.0
    #: Service: bearer token required on every API call, if set.
    api_key: Optional[str] = None

    def __post_init__(self) -> None:
        if self.model is not None and not isinstance(self.model, Path):
            object.__setattr__(self, "model", Path(self.model))
        _require(bool(self.backend), "backend must not be empty")
        _require(self.max_tags >= 1, "max_tags must be at least 1")
        _require(0.0 <= self.min_score <= 1.0, "min_score must be between 0 and 1")
        _require(self.threads >= 0, "threads must be 0 (automatic) or more")
        _require(self.batch_size >= 1, "batch_size must be at least 1")
        _require(self.max_body_bytes >= 1024, "max_body_bytes must be at least 1024")
        _require(self.max_batch_items >= 1, "max_batch_items must be at least 1")
        _require(self.request_timeout_s > 0, "request_timeout_s must be positive")
        _require(self.api_key is None or len(self.api_key) > 0, "api_key must not be empty")

    def with_overrides(self, **values) -> "Settings":
        """A copy with the given values replaced; ``None`` values are ignored."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """Settings from ``REPOTAG_<FIELD>`` variables (e.g. ``REPOTAG_MAX_TAGS``), then overrides."""
        environ = os.environ if environ is None else environ
        values = {}
        for field in fields(cls):
            raw = environ.get(ENV_PREFIX + field.name.upper())
            if raw is None or raw == "":
                continue
            values[field.name] = _parse(field.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


_CASTS = {
    "backend": str,
    "model": Path,
    "max_tags": int,
    "min_score": float,
    "threads": int,
    "encoder_spinning": lambda raw: {"1": True, "true": True, "0": False, "false": False}[raw.strip().lower()],
    "batch_size": int,
    "max_body_bytes": int,
    "max_batch_items": int,
    "request_timeout_s": float,
    "api_key": str,
}


def _parse(name: str, raw: str):
    try:
        return _CASTS[name](raw)
    except (ValueError, KeyError):
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid value") from None


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
