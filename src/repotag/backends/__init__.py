"""Backends: what turns READMEs into per-tag scores, behind one small interface.

Built in: ``embedded`` (the trained model, default), ``llm`` (any OpenAI-compatible
chat server, held to the same rules), ``cascade`` (embedded first, the LLM only where the
model is unsure) and ``fixed`` (given scores, for tests). Other packages add theirs
through the ``repotag.backends`` entry point group::

    [project.entry-points."repotag.backends"]
    keyword = "my_package:KeywordBackend"
"""

from __future__ import annotations

from importlib import import_module

from .._errors import ConfigError
from .._rules import DecisionPolicy
from ._base import Backend, Document, PolicyScores, Scores
from ._fixed import FixedScores

ENTRY_POINT_GROUP = "repotag.backends"
_BUILT_IN = {
    "embedded": "repotag.backends._embedded:EmbeddedBackend",
    "fixed": "repotag.backends._fixed:FixedScores",
    "llm": "repotag.backends._llm:LLMBackend",
    "cascade": "repotag.backends._cascade:CascadeBackend",
}

__all__ = [
    "ENTRY_POINT_GROUP", "Backend", "CascadeBackend", "DecisionPolicy", "Document", "FixedScores", "LLMBackend",
    "PolicyScores", "Scores", "available_backends", "get_backend",
]


def __getattr__(name: str):
    # The LLM backend and the cascade load on first use: `import repotag` stays cheap.
    if name in ("LLMBackend", "CascadeBackend"):
        return get_backend({"LLMBackend": "llm", "CascadeBackend": "cascade"}[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _entry_points() -> dict:
    from importlib.metadata import entry_points

    return {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}


def available_backends() -> list[str]:
    """Names ``Tagger.load(backend=...)`` accepts: the built-in ones and every registered entry point."""
    return sorted(set(_BUILT_IN) | set(_entry_points()))


def get_backend(name: str) -> type[Backend]:
    """The backend class registered under ``name``."""
    if name in _BUILT_IN:
        module, _, attribute = _BUILT_IN[name].partition(":")
        return getattr(import_module(module), attribute)
    point = _entry_points().get(name)
    if point is None:
        raise ConfigError(f"unknown backend {name!r} (available: {', '.join(available_backends())})")
    try:
        backend = point.load()
    except Exception as exc:  # a broken plug-in must not take the CLI down with a traceback
        raise ConfigError(f"backend {name!r} could not be loaded: {type(exc).__name__}: {exc}") from None
    if not (isinstance(backend, type) and issubclass(backend, Backend)):
        raise ConfigError(f"backend {name!r} ({point.value}) is not a repotag.backends.Backend subclass")
    return backend
