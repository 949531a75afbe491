"""Reading a README: bytes from a file, stdin or a string, decoded into text.

Only a capped prefix is read, so a 50 MB file costs the same as a 1 MB one;
annotators judge a README from its beginning, and so does the model.
"""

from __future__ import annotations

import codecs
import json
import sys
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence, Union

from .._errors import InputError
from .._unicode import lone_surrogate_at

#: Bytes read from the start of a README; the rest is never loaded.
MAX_README_BYTES = 1_000_000

ReadmeSource = Union[str, bytes, bytearray]

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _guess_utf16(data: bytes) -> str | None:
    """Spot BOM-less UTF-16 by its NUL bytes, which sit on one parity for ASCII text."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_nuls > 0.4 * half and even_nuls < 0.05 * half:
        return "utf-16-le"
    if even_nuls > 0.4 * half and odd_nuls < 0.05 * half:
        return "utf-16-be"
    return None


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    sample = text[:8192]
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f\v") or ch == "\ufffd")
    return bad > max(2, 0.02 * len(sample))


def decode_readme(data: bytes) -> str:
    """Decode README bytes: BOMs and UTF-16 are honoured, UTF-8 is assumed, binary is refused.

    Raises :class:`InputError` when the bytes are not text.
    """
    data = bytes(data[:MAX_README_BYTES])
    encoding = None
    for bom, name in _BOMS:
        if data.startswith(bom):
            encoding, data = name, data[len(bom):]
            break
    if encoding is None:
        encoding = _guess_utf16(data) or "utf-8"
    if encoding.startswith(("utf-16", "utf-32")):
        # Cutting at the cap may split a code unit; keep whole units only.
        unit = 4 if encoding.startswith("utf-32") else 2
        data = data[: len(data) - len(data) % unit]
    # "replace" keeps a prefix cut inside a multi-byte character readable.
    text = data.decode(encoding, errors="replace")
    if _looks_binary(text):
        raise InputError("input is binary, not text: give a README in UTF-8 or UTF-16")
    return text


def check_unicode(text: str, what: str = "README") -> str:
    """``text`` itself, if every character can be written as UTF-8 (no lone surrogates)."""
    position = lone_surrogate_at(text)
    if position is not None:
        raise InputError(f"{what} is not valid Unicode: lone surrogate at character {position}")
    return text


def as_text(readme: ReadmeSource) -> str:
    """A README given as ``str`` or ``bytes``, as text capped to the read limit."""
    if isinstance(readme, (bytes, bytearray)):
        return decode_readme(bytes(readme))
    if isinstance(readme, str):
        if "\x00" in readme[:8192]:
            raise InputError("input is binary, not text: it holds NUL characters")
        # JSON may carry "\ud800": no encoder, tokenizer or output file can take it.
        return check_unicode(readme[:MAX_README_BYTES])
    raise InputError(f"README must be text or bytes, not {type(readme).__name__}")


def read_stream(stream: BinaryIO) -> str:
    """Read and decode at most the capped prefix of a binary stream."""
    return decode_readme(stream.read(MAX_README_BYTES))


def read_readme_file(path: str | Path) -> str:
    """Read a README file (``-`` is standard input)."""
    if str(path) == "-":
        return read_stream(sys.stdin.buffer)
    try:
        with open(path, "rb") as handle:
            return read_stream(handle)
    except FileNotFoundError:
        raise InputError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"is a directory, not a README file: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_json_lines(path: str | Path, fields: Sequence[str]) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, object)`` from a JSONL file whose objects must hold ``fields``.

    For files that must be whole (labels, predictions): any bad line raises
    :class:`InputError` naming it. Batch input, where bad lines become error
    records instead, has its own reader.
    """
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    expected = " and ".join(repr(f) for f in fields)
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if not isinstance(row, dict) or any(f not in row for f in fields):
                raise InputError(f"{path}:{number}: expected a JSON object with {expected}")
            yield number, row
