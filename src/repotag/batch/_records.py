"""The batch record layer, shared by the local engine, the Ray engine and the service.

Input formats by suffix, record validation, result and error lines, and the
keys by which a resumed run recognises what is done: each written once.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from .._errors import InputError
from .._extras import require_extra
from .._tagger import readme_of
from .._unicode import lone_surrogate_at
from ..pipeline._reading import MAX_README_BYTES, STDIN, is_readme_name, open_bytes

if TYPE_CHECKING:
    from .._tagger import Tagger

#: Input formats by file suffix.
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


#: The input's id and README columns, unless the user names others (--id-field, --text-field).
COLUMNS = ("id", "readme")


def input_format(location: str | Path) -> str:
    """``jsonl``, ``csv``, ``parquet`` or ``directory``, from the path (``.gz`` looked through; ``-`` is JSONL)."""
    if str(location) == STDIN:
        return "jsonl"
    path = Path(str(location))
    if path.is_dir():
        return "directory"
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    suffix = suffixes[-2] if suffixes[-1:] == [".gz"] and len(suffixes) == 2 else path.suffix.lower()
    if suffix not in FORMATS or (suffixes[-1:] == [".gz"] and FORMATS[suffix] == "parquet"):
        raise InputError(f"{location}: unknown input format (use .jsonl, .csv, either gzipped, .parquet, "
                         "a directory or - for JSONL on standard input)")
    return FORMATS[suffix]


@dataclass
class SourceRecord:
    """A record read from the input: an id and README, or the reason it is unusable."""

    id: Any
    readme: Any = None
    error: str | None = None
    #: Line or row number, for records whose id could not be read.
    line: int | None = None

    @property
    def key(self) -> str:
        return resume_key(self.id, self.line)


def resume_key(record_id: Any, line: int | None = None) -> str:
    """How an output line is recognised on resume: its id, or its line when it had none."""
    if record_id is None:
        return f"line:{line}"
    return "id:" + json.dumps(record_id, sort_keys=True)


def id_problem(record_id: Any) -> str | None:
    """Why ``record_id`` cannot be echoed in a JSON result, or ``None`` if it can."""
    if isinstance(record_id, bool) or not isinstance(record_id, (str, int, float)):
        return "id must be a string or number"
    if isinstance(record_id, float) and not math.isfinite(record_id):
        return "id must be a finite number (NaN and Infinity are not JSON)"
    if isinstance(record_id, str) and lone_surrogate_at(record_id) is not None:
        return "id is not valid Unicode (lone surrogate)"
    return None


def validate_record(row: Any, number: int | None) -> SourceRecord:
    """A raw input row (any format) as a record, or as the error that row becomes."""
    where = f"line {number}: " if number is not None else ""
    if not isinstance(row, dict):
        return SourceRecord(None, error=f"{where}expected a JSON object", line=number)
    record_id = row.get("id")
    if record_id is None or record_id == "":
        return SourceRecord(None, error=f"{where}record has no id", line=number)
    problem = id_problem(record_id)
    if problem:
        return SourceRecord(None, error=f"{where}{problem}", line=number)
    try:
        return SourceRecord(record_id, readme_of(row), line=number)
    except InputError as exc:
        return SourceRecord(record_id, error=str(exc), line=number)


def result_lines(tagger: "Tagger", records: list[SourceRecord], scores: bool,
                 locked: Mapping[str, list] | None = None) -> list[dict]:
    """The output object of each record, in order: its tags, or its error.

    A record in ``locked`` (tags a person set, by record key) keeps them, marked ``"locked": true``,
    and is not tagged again.
    """
    from .._tagger import Record

    lines: list[dict] = [{} for _ in records]
    locked = locked or {}
    for i, record in enumerate(records):
        if record.error is None and record.key in locked:
            tags = [{**tag.to_dict(), **({"score": 1.0} if scores else {})} for tag in locked[record.key]]
            lines[i] = {"id": record.id, "tags": tags, "locked": True}
    good = [i for i, r in enumerate(records) if r.error is None and r.key not in locked]
    results = tagger.tag_many((Record(records[i].readme, records[i].id) for i in good), errors="record")
    for i, result in zip(good, results):
        lines[i] = result.to_dict(scores)
    for i, record in enumerate(records):
        if record.error is not None:
            lines[i] = {"id": record.id, "error": record.error}
            if record.id is None and record.line is not None:
                lines[i]["line"] = record.line
    return lines


# ---- readers ------------------------------------------------------------------
def _renamed(row: Any, columns: tuple[str, str]) -> Any:
    """A row with the user's id and text columns under the names the record layer reads."""
    if columns == COLUMNS or not isinstance(row, dict):
        return row
    return {name: row.get(column) for name, column in zip(COLUMNS, columns)}


def read_jsonl(path: Path, columns: tuple[str, str] = COLUMNS) -> Iterator[SourceRecord]:
    with open_bytes(path) as handle:
        for number, raw in _numbered_lines(handle, path):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield SourceRecord(None, error=f"line {number}: malformed JSON ({exc.__class__.__name__})", line=number)
                continue
            yield validate_record(_renamed(row, columns), number)


def _numbered_lines(handle, path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, line) pairs; a damaged compressed stream ends the run with its place, the lines before it kept."""
    number = 0
    while True:
        try:
            raw = handle.readline()
        except (OSError, EOFError) as exc:  # gzip: BadGzipFile, or a truncated file
            raise InputError(f"{path}: unreadable after line {number} ({type(exc).__name__})") from None
        if not raw:
            return
        number += 1
        yield number, raw


def read_csv(path: Path, columns: tuple[str, str] = COLUMNS) -> Iterator[SourceRecord]:
    csv.field_size_limit(2**31 - 1)
    with io.TextIOWrapper(open_bytes(path), encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames
        except (OSError, EOFError) as exc:
            raise InputError(f"{path}: unreadable ({type(exc).__name__})") from None
        if not header or any(column not in header for column in columns):
            raise InputError(f"{path}: CSV needs a header with {columns[0]!r} and {columns[1]!r} columns")
        number = 1
        try:
            for number, row in enumerate(reader, start=2):
                yield validate_record(_renamed(row, columns), number)
        except (OSError, EOFError) as exc:  # a damaged .csv.gz
            raise InputError(f"{path}: unreadable after row {number} ({type(exc).__name__})") from None


def read_parquet(path: Path, columns: tuple[str, str] = COLUMNS) -> Iterator[SourceRecord]:
    require_extra("parquet")
    import pyarrow.parquet as pq

    number = 0
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    missing = set(columns) - set(parquet.schema_arrow.names)
    if missing:
        raise InputError(f"{path}: Parquet file lacks column(s) {', '.join(sorted(missing))}")
    batches = parquet.iter_batches(batch_size=256, columns=list(dict.fromkeys(columns)))
    while True:
        try:
            rows = next(batches).to_pylist()
        except StopIteration:
            return
        except Exception as exc:  # a corrupt page: the rows before it are already written
            raise InputError(f"{path}: Parquet data unreadable after row {number} ({type(exc).__name__})") from None
        for row in rows:
            number += 1
            yield validate_record(_renamed(row, columns), number)


def directory_files(path: Path, pattern: str | None = None) -> list[Path]:
    """The files of a directory input: README files (any case, any extension) by default, else ``pattern``."""
    if pattern:
        return sorted(p for p in path.rglob(pattern) if p.is_file())
    return sorted(p for p in path.rglob("*") if p.is_file() and is_readme_name(p.name))


def read_directory(path: Path, pattern: str | None = None) -> Iterator[SourceRecord]:
    for file in directory_files(path, pattern):
        record_id = file.relative_to(path).as_posix()
        try:
            with open(file, "rb") as handle:
                yield SourceRecord(record_id, handle.read(MAX_README_BYTES))
        except OSError as exc:
            yield SourceRecord(record_id, error=f"cannot read file: {exc.strerror or exc}")


_READERS = {"jsonl": read_jsonl, "csv": read_csv, "parquet": read_parquet}


def read_records(path: str | Path, pattern: str | None = None,
                 columns: tuple[str, str] = COLUMNS) -> Iterator[SourceRecord]:
    """Stream records from JSONL, CSV, Parquet, a directory of README files or ``-`` (JSONL on standard input).

    ``pattern`` chooses a directory's files (default: its README files); ``columns`` names the
    id and README fields of JSONL, CSV and Parquet input.
    """
    if str(path) == STDIN:
        return read_jsonl(Path(STDIN), columns)
    path = Path(path)
    if not path.exists():
        raise InputError(f"input not found: {path}")
    kind = input_format(path)
    if kind == "directory":
        return read_directory(path, pattern)
    return _READERS[kind](path, columns)


def count_records(path: str | Path, pattern: str | None = None) -> int | None:
    """How many records ``path`` holds, cheaply (for a progress ETA); ``None`` if unknown."""
    if str(path) == STDIN:
        return None
    path = Path(path)
    try:
        kind = input_format(path)
        if kind == "directory":
            return len(directory_files(path, pattern))
        if kind == "jsonl":
            with open_bytes(path) as handle:
                return sum(1 for line in handle if line.strip())
        if kind == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
    except (OSError, EOFError, ImportError, InputError):  # a damaged .gz: the reader reports it
        return None
    return None  # CSV rows may span lines: no cheap count


def _result_key(raw: bytes) -> str | None:
    """The resume key of one finished output line, else ``None``.

    Finished: a whole result object, with tags or with a final error. An error marked
    ``retryable`` (the backend failed, say an LLM server was down) is not finished: a resumed
    run tries that record again.
    """
    if not raw.endswith(b"\n"):
        return None  # torn write from a killed run
    try:
        row = json.loads(raw)
    except ValueError:  # malformed JSON or invalid UTF-8
        return None
    if not isinstance(row, dict) or "id" not in row or not ("tags" in row or "error" in row):
        return None
    if row.get("retryable") is True:
        return None
    return resume_key(row["id"], row.get("line"))


def completed_keys(output: Path) -> set[str]:
    """Keys of every finished result line already in ``output``.

    Lines that are not finished results (retryable errors, a torn last line, garbage left by a
    crash or a full disk) are removed, so their records are tagged again; every finished
    line, before or after them, is kept. The cleaned file replaces the old one atomically.
    """
    done: set[str] = set()
    if not output.exists():
        return done
    unfinished = False
    with open(output, "rb") as handle:
        for raw in handle:
            key = _result_key(raw)
            if key is None:
                unfinished = True
            else:
                done.add(key)
    if unfinished:
        temporary = output.with_name(output.name + ".resume-tmp")
        with open(output, "rb") as source, open(temporary, "wb") as cleaned:
            for raw in source:
                if _result_key(raw) is not None:
                    cleaned.write(raw)
            cleaned.flush()
            os.fsync(cleaned.fileno())
        os.replace(temporary, output)
    return done
