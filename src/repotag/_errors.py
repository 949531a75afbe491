"""Exceptions raised by repotag. Every message is one line a user can act on."""

from __future__ import annotations


class RepotagError(Exception):
    """Base class of every error repotag raises on purpose."""


class InputError(RepotagError):
    """The README (or a record holding it) cannot be read as text."""


class TaxonomyError(RepotagError):
    """A taxonomy file or list is malformed."""


class PromptError(RepotagError):
    """A prompt is not in the format users send to LLMs for tagging."""


class ModelError(RepotagError):
    """A model directory is missing, incomplete or does not fit the taxonomy."""


class ConfigError(RepotagError):
    """A configuration value is out of range."""


class BackendError(RepotagError):
    """A remote backend (an LLM server) failed, or answered nothing usable, for one README."""


class BackendTimeout(BackendError):
    """A remote backend did not answer in time."""
