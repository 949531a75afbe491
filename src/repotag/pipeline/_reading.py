"""Reading a README: bytes from a file, stdin or a string, decoded into text.

Only a capped prefix is read, so a 50 MB file costs the same as a 1 MB one;
annotators judge a README from its beginning, and so does the model.
"""

from __future__ import annotations

import codecs
import json
import re
import sys
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence, Union

from .._errors import InputError
from .._unicode import lone_surrogate_at

#: The path that means standard input.
STDIN = "-"
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
    if len(sample) < 16:  # too little to tell UTF-16 from binary (b"\x00\x01bin" is not text)
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_nuls > 0.4 * half and even_nuls < 0.05 * half:
        return "utf-16-le"
    if even_nuls > 0.4 * half and odd_nuls < 0.05 * half:
        return "utf-16-be"
    return None


#: Control characters other than whitespace, and the replacement character left by undecodable bytes.
_NOT_TEXT = re.compile("[\x00-\x08\x0e-\x1f\ufffd]")


def _refuse_binary(text: str) -> str:
    """``text`` itself unless it looks binary: a NUL, or control and replacement characters past 2 %.

    One rule for bytes and ``str`` alike, so the library, CLI, batch and service agree.
    """
    sample = text[:8192]
    bad = len(_NOT_TEXT.findall(sample))  # a regex scan: a Python loop here cost 1 ms per README
    if "\x00" in sample or bad > max(2, 0.02 * len(sample)):
        raise InputError("input is binary, not text: give a README in UTF-8 or UTF-16")
    return text


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
    return _refuse_binary(data.decode(encoding, errors="replace"))


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
        # JSON may carry "\ud800": no encoder, tokenizer or output file can take it.
        return check_unicode(_refuse_binary(readme[:MAX_README_BYTES]))
    raise InputError(f"README must be text or bytes, not {type(readme).__name__}")


def read_stream(stream: BinaryIO) -> str:
    """Read and decode at most the capped prefix of a binary stream."""
    return decode_readme(stream.read(MAX_README_BYTES))


_URL_SCHEMES = ("http://", "https://", "ftp://", "s3://", "gs://", "git@")


def is_readme_name(name: str) -> bool:
    """A README's file name, in any case and with any extension (``README.md``, ``readme.rst``, ``README``)."""
    return name.lower().startswith("readme")


def open_bytes(path: str | Path) -> BinaryIO:
    """A file's bytes, decompressed when its name ends in ``.gz``; ``-`` is standard input (left open)."""
    if str(path) == STDIN:
        import contextlib

        return contextlib.nullcontext(sys.stdin.buffer)  # type: ignore[return-value]
    if Path(path).suffix.lower() == ".gz":
        import gzip

        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def find_readme(directory: Path) -> Path:
    """The README of a repository directory: ``README.md`` first, else the first ``README*`` by name."""
    found = sorted((p for p in directory.iterdir() if p.is_file() and is_readme_name(p.name)),
                   key=lambda p: (p.name.lower() != "readme.md", p.name.lower()))
    if not found:
        raise InputError(f"no README file in directory {directory}")
    return found[0]


def readme_path(path: str | Path) -> Path:
    """The file to read for ``path``: itself, or a directory's README; URLs are refused, never fetched."""
    if str(path).lower().startswith(_URL_SCHEMES):
        raise InputError(f"URLs are not fetched (repotag works offline): save the README and pass the file: {path}")
    path = Path(path)
    return find_readme(path) if path.is_dir() else path


def read_readme_file(path: str | Path) -> str:
    """Read a README file (``-`` is standard input), a directory's README, or a gzip-compressed ``.gz`` file."""
    if str(path) == STDIN:
        return read_stream(sys.stdin.buffer)
    path = readme_path(path)
    try:
        with open_bytes(path) as handle:
            return read_stream(handle)
    except FileNotFoundError:
        raise InputError(f"file not found: {path}") from None
    except (OSError, EOFError) as exc:  # gzip raises BadGzipFile (an OSError) and EOFError for damaged files
        raise InputError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None


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
