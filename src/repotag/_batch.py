"""Batch tagging of whole catalogues: streaming readers, resumable JSONL output, worker processes.

Guarantees: memory stays bounded (records are read lazily and at most a few
chunks are in flight), each result line is written whole and flushed, and a
run restarted with ``resume=True`` skips every id already written, so a run
killed at any moment ends, once resumed, with every id exactly once.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ._config import Settings
from ._errors import InputError, RepotagError

#: Records sent to a worker at a time.
CHUNK_SIZE = 64


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


def _record(row: Any, number: int) -> SourceRecord:
    if not isinstance(row, dict):
        return SourceRecord(None, error=f"line {number}: expected a JSON object", line=number)
    record_id = row.get("id")
    if record_id is None or record_id == "":
        return SourceRecord(None, error=f"line {number}: record has no id", line=number)
    if isinstance(record_id, (dict, list)):
        return SourceRecord(None, error=f"line {number}: id must be a string or number", line=number)
    readme = row.get("readme")
    if readme is None:
        return SourceRecord(record_id, error="record has no 'readme' field", line=number)
    if not isinstance(readme, (str, bytes)):
        return SourceRecord(record_id, error="'readme' must be a string", line=number)
    return SourceRecord(record_id, readme, line=number)


def read_jsonl(path: Path) -> Iterator[SourceRecord]:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield SourceRecord(None, error=f"line {number}: malformed JSON ({exc.__class__.__name__})", line=number)
                continue
            yield _record(row, number)


def read_csv(path: Path) -> Iterator[SourceRecord]:
    csv.field_size_limit(2**31 - 1)
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "id" not in reader.fieldnames or "readme" not in reader.fieldnames:
            raise InputError(f"{path}: CSV needs a header with 'id' and 'readme' columns")
        for number, row in enumerate(reader, start=2):
            yield _record(row, number)


def read_parquet(path: Path) -> Iterator[SourceRecord]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError('Parquet needs pyarrow: pip install "repotag[parquet]"') from None
    number = 0
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    missing = {"id", "readme"} - set(parquet.schema_arrow.names)
    if missing:
        raise InputError(f"{path}: Parquet file lacks column(s) {', '.join(sorted(missing))}")
    for batch in parquet.iter_batches(batch_size=256, columns=["id", "readme"]):
        for row in batch.to_pylist():
            number += 1
            yield _record(row, number)


def read_directory(path: Path) -> Iterator[SourceRecord]:
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        record_id = file.relative_to(path).as_posix()
        try:
            with open(file, "rb") as handle:
                from ._reading import MAX_README_BYTES

                yield SourceRecord(record_id, handle.read(MAX_README_BYTES))
        except OSError as exc:
            yield SourceRecord(record_id, error=f"cannot read file: {exc.strerror or exc}")


def read_records(path: str | Path) -> Iterator[SourceRecord]:
    """Stream records from JSONL, CSV, Parquet or a directory of README files (by extension)."""
    path = Path(path)
    if path.is_dir():
        return read_directory(path)
    if not path.exists():
        raise InputError(f"input not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return read_jsonl(path)
    if suffix == ".csv":
        return read_csv(path)
    if suffix in (".parquet", ".pq"):
        return read_parquet(path)
    raise InputError(f"{path}: unknown input format (use .jsonl, .csv, .parquet or a directory)")


def count_records(path: str | Path) -> int | None:
    """How many records ``path`` holds, cheaply (for a progress ETA); ``None`` if unknown."""
    path = Path(path)
    try:
        if path.is_dir():
            return sum(1 for p in path.rglob("*") if p.is_file())
        suffix = path.suffix.lower()
        if suffix in (".jsonl", ".ndjson", ".json"):
            with open(path, "rb") as handle:
                return sum(1 for line in handle if line.strip())
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
    except (OSError, ImportError):
        return None
    return None  # CSV rows may span lines: no cheap count


def completed_keys(output: Path) -> set[str]:
    """Keys of every whole line already in ``output``; a torn last line is cut off."""
    done: set[str] = set()
    if not output.exists():
        return done
    good_end = 0
    with open(output, "rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break  # torn write from a killed run
            try:
                row = json.loads(raw)
            except json.JSONDecodeError:
                break
            done.add(resume_key(row.get("id"), row.get("line")))
            good_end += len(raw)
    if good_end != output.stat().st_size:
        with open(output, "r+b") as handle:
            handle.truncate(good_end)
    return done


@dataclass
class BatchSummary:
    """What a batch run did."""

    done: int = 0
    skipped: int = 0
    errors: int = 0
    duplicates: int = 0
    duplicate_ids: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def docs_per_second(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def format(self) -> str:
        text = (
            f"done {self.done}, skipped {self.skipped} (already in output), errors {self.errors}, "
            f"duplicate ids {self.duplicates}, in {self.seconds:.1f}s ({self.docs_per_second:.1f} READMEs/s)"
        )
        if self.duplicate_ids:
            shown = ", ".join(json.dumps(i) for i in self.duplicate_ids[:5])
            text += f"\nduplicate ids in input (first kept): {shown}" + (" ..." if self.duplicates > 5 else "")
        return text


# ---- workers ----------------------------------------------------------------
#: Per-process state: the tagger is loaded once per worker, not per chunk.
_WORKER: dict = {}


def _init_worker(options: dict) -> None:
    from ._tagger import Tagger

    # One core per worker: N workers use N cores without fighting over them.
    settings = options["settings"].with_overrides(threads=1)
    _WORKER.clear()  # with one worker this runs in the caller's process, run after run
    _WORKER["scores"] = options["scores"]
    try:
        _WORKER["tagger"] = Tagger.load(settings.model, options["taxonomy"], options["max_tags"], settings=settings)
    except RepotagError as exc:
        # Raised from the first chunk instead: a failing pool initializer is
        # restarted forever and the run would hang.
        _WORKER["error"] = exc


def _init_pool_worker(options: dict) -> None:
    """Initializer of a pool process: a process of repotag's own, so its BLAS is limited too."""
    from ._model import use_one_blas_thread

    use_one_blas_thread()
    _init_worker(options)


def _tag_chunk(chunk: list[SourceRecord]) -> tuple[list[str], int]:
    """Tag a chunk in a worker; returns finished JSON lines and how many are errors."""
    from ._tagger import Record

    if "error" in _WORKER:
        raise _WORKER["error"]
    lines: list[dict] = [{} for _ in chunk]
    good = [i for i, r in enumerate(chunk) if r.error is None]
    results = _WORKER["tagger"].tag_many((Record(chunk[i].readme, chunk[i].id) for i in good), errors="record")
    for i, result in zip(good, results):
        lines[i] = result.to_dict(_WORKER["scores"])
    for i, record in enumerate(chunk):
        if record.error is not None:
            lines[i] = {"id": record.id, "error": record.error}
            if record.id is None:
                lines[i]["line"] = record.line
    errors = sum("error" in line for line in lines)
    return [json.dumps(line, ensure_ascii=False) + "\n" for line in lines], errors


def _chunks(records: Iterator[SourceRecord], skip: set[str], summary: BatchSummary) -> Iterator[list[SourceRecord]]:
    seen: set[str] = set()
    chunk: list[SourceRecord] = []
    for record in records:
        key = record.key
        if record.id is not None:
            if key in seen:
                summary.duplicates += 1
                if len(summary.duplicate_ids) < 100:
                    summary.duplicate_ids.append(record.id)
                continue
            seen.add(key)
        if key in skip:
            summary.skipped += 1
            continue
        chunk.append(record)
        if len(chunk) >= CHUNK_SIZE:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_batch(
    input_path: str | Path,
    output_path: str | Path,
    *,
    settings: Settings | None = None,
    taxonomy: Any = None,
    max_tags: int | None = None,
    workers: int | None = None,
    resume: bool = False,
    scores: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> BatchSummary:
    """Tag every record of ``input_path`` into the JSONL file ``output_path``.

    ``settings`` gives the model and the default tag limit; ``max_tags`` is an explicit
    limit. Without ``resume`` an existing output is an error, so no work is overwritten.
    """
    output = Path(output_path)
    if output.exists() and not resume and output.stat().st_size > 0:
        raise InputError(f"{output} exists: pass --resume to continue it, or choose another output")
    records = read_records(input_path)
    skip = completed_keys(output) if resume else set()
    workers = max(1, workers or os.cpu_count() or 1)
    options = {"settings": settings or Settings(), "taxonomy": taxonomy, "max_tags": max_tags, "scores": scores}
    summary = BatchSummary()
    started = time.perf_counter()
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "a", encoding="utf-8") as sink:
        def write(tagged: tuple[list[str], int]) -> None:
            lines, errors = tagged
            for line in lines:
                sink.write(line)
                sink.flush()
            summary.errors += errors
            summary.done += len(lines)
            if on_progress:
                on_progress(len(lines))

        chunks = _chunks(records, skip, summary)
        if workers == 1:
            _init_worker(options)
            for chunk in chunks:
                write(_tag_chunk(chunk))
        else:
            _run_pool(chunks, options, workers, write)
    summary.seconds = time.perf_counter() - started
    return summary


def _run_pool(chunks: Iterator[list[SourceRecord]], options: dict, workers: int, write) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_pool_worker, initargs=(options,)) as pool:
        pending: deque = deque()
        # Bounded in-flight work keeps memory flat and output in input order.
        for chunk in chunks:
            pending.append(pool.apply_async(_tag_chunk, (chunk,)))
            if len(pending) >= 2 * workers:
                write(pending.popleft().get())
        while pending:
            write(pending.popleft().get())
