"""The one rule for text repotag can echo: it must be writable as UTF-8.

JSON can carry a lone surrogate (``"\\ud800"``) that Python decodes into a ``str``
no encoder, tokenizer or output file accepts.
"""

from __future__ import annotations


def lone_surrogate_at(text: str) -> int | None:
    """Index of the first lone surrogate in ``text``, or ``None`` when it is valid Unicode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None
