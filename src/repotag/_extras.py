"""Optional extras: one check, made before any work, that names the install command."""

from __future__ import annotations

from importlib.util import find_spec

from ._errors import RepotagError

#: The modules each extra of ``pyproject.toml`` brings, and what needs them.
EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "train": (("sklearn", "scipy"), "training"),
    "serve": (("fastapi", "uvicorn", "pydantic", "prometheus_client"), "the HTTP service"),
    "llm": (("httpx",), "the LLM backend"),
    "parquet": (("pyarrow",), "Parquet input"),
    "ray": (("ray", "pyarrow"), "the Ray engine"),
    "eval": (("matplotlib",), "charts"),
    "build": (("torch", "transformers", "sentence_transformers", "onnx"), "building models"),
}


class MissingExtra(RepotagError):
    """An optional dependency is not installed."""


def require_extra(extra: str) -> None:
    """Raise :class:`MissingExtra` naming ``pip install 'repotag[EXTRA]'`` unless the extra's modules are there.

    Looks modules up without importing them, so it is cheap to call first thing.
    """
    modules, purpose = EXTRAS[extra]
    missing = [name for name in modules if not _installed(name)]
    if missing:
        raise MissingExtra(f"{purpose} needs the '{extra}' extra ({', '.join(missing)} not installed): "
                           f"pip install 'repotag[{extra}]'")


def _installed(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses the module, or a broken package
        return False
