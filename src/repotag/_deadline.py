"""A deadline for the work of one request, checked where the work is long (one encoder run at a time).

The service runs each request's tagging in a thread it cannot kill; when the
request times out, the work must still stop. ``within(seconds)`` sets the
deadline for the calling thread's context, ``check()`` raises once it has passed.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from ._errors import RepotagError

_DEADLINE: ContextVar[float | None] = ContextVar("repotag_deadline", default=None)


class DeadlineExceeded(RepotagError):
    """The request this work belongs to ran out of time; the work was stopped."""


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Run the enclosed work under a deadline ``seconds`` from now."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check() -> None:
    """Raise :class:`DeadlineExceeded` if the current work's deadline has passed."""
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() > deadline:
        raise DeadlineExceeded("work stopped: its request timed out")


def remaining() -> float | None:
    """Seconds left before the current work's deadline, or ``None`` without one."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()
