"""Batch tagging of whole catalogues: streaming readers, resumable JSONL output, worker processes.

Guarantees: memory stays bounded (records are read lazily and at most a few
chunks are in flight), each result line is written whole and flushed, and a
run restarted with ``resume=True`` skips every id already written, so a run
killed at any moment ends, once resumed, with every id exactly once.
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .._config import Settings
from .._errors import InputError, ModelError, RepotagError
from ._records import COLUMNS, SourceRecord, completed_keys, read_records, result_lines

#: Records sent to a worker at a time.
CHUNK_SIZE = 64
#: Write failures that mean the output cannot take more (full disk, quota, read-only, I/O error).
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}
#: The output path that means standard output.
STDOUT = "-"
#: Output names the local engine accepts: it writes JSON lines.
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json", "")


@dataclass
class BatchSummary:
    """What a batch run did."""

    done: int = 0
    skipped: int = 0
    errors: int = 0
    duplicates: int = 0
    duplicate_ids: list = field(default_factory=list)
    seconds: float = 0.0
    #: The backend's own totals for this run (LLM calls, cache hits, repairs, where a cascade sent READMEs).
    backend: Counter = field(default_factory=Counter)

    @property
    def docs_per_second(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def format(self) -> str:
        text = (
            f"done {self.done}, skipped {self.skipped} (already in output), errors {self.errors}, "
            f"duplicate ids {self.duplicates}, in {self.seconds:.1f}s ({self.docs_per_second:.1f} READMEs/s)"
        )
        if self.backend:
            text += "\n" + format_backend_stats(self.backend)
        if self.duplicate_ids:
            shown = ", ".join(json.dumps(i) for i in self.duplicate_ids[:5])
            text += f"\nduplicate ids in input (first kept): {shown}" + (" ..." if self.duplicates > 5 else "")
        return text


def format_backend_stats(stats: Counter) -> str:
    """One line of a backend's totals: where a cascade sent READMEs, LLM calls and latency, repairs."""
    parts = []
    if "cascade_first" in stats:
        parts.append(f"cascade: {stats['cascade_first']:.0f} kept by the model, {stats['cascade_second']:.0f} "
                     "sent to the LLM")
    if stats.get("requests") or stats.get("cache_hits"):
        answers = stats.get("answers", 0)
        latency = f", mean latency {1000 * stats['latency_s'] / answers:.0f} ms" if answers else ""
        parts.append(f"LLM: {stats.get('requests', 0):.0f} requests, {stats.get('cache_hits', 0):.0f} cache hits, "
                     f"{stats.get('retries', 0):.0f} retries, {stats.get('errors', 0):.0f} failed{latency}")
    repairs = {k.removeprefix("repaired_"): v for k, v in stats.items() if k.startswith("repaired_") and v}
    if repairs or stats.get("unreadable_answers"):
        shown = ", ".join(f"{k.replace('_', ' ')} {v:.0f}" for k, v in sorted(repairs.items()))
        parts.append(f"repairs: {shown or 'none'}; unreadable answers asked again {stats.get('unreadable_answers', 0):.0f}")
    return "\n".join(parts)


# ---- workers ----------------------------------------------------------------
#: Per-process state: the tagger is loaded once per worker, not per chunk.
_WORKER: dict = {}


def _init_worker(options: dict, owned_process: bool = False) -> None:
    """Load the worker's tagger; in a pool process of repotag's own, BLAS is limited too."""
    from .._tagger import Tagger, start_worker

    # One core per worker: N workers use N cores without fighting over them.
    settings = options["settings"].with_overrides(threads=1)
    _WORKER.clear()  # with one worker this runs in the caller's process, run after run
    _WORKER["scores"] = options["scores"]
    _WORKER["locked"] = options.get("locked")
    try:
        if owned_process:
            _WORKER["tagger"] = start_worker(settings, options["taxonomy"], options["max_tags"])
        else:
            _WORKER["tagger"] = Tagger.load(taxonomy=options["taxonomy"], max_tags=options["max_tags"], settings=settings)
    except Exception as exc:
        # Raised from the first chunk instead: a failing pool initializer is
        # restarted forever and the run would hang.
        _WORKER["error"] = exc if isinstance(exc, RepotagError) else ModelError(f"worker start-up failed: {exc}")


def _init_pool_worker(options: dict) -> None:
    import signal

    # Ctrl-C reaches the whole process group: only the parent acts on it, and shuts the pool down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init_worker(options, owned_process=True)


def _tag_chunk(chunk: list[SourceRecord]) -> tuple[list[str], int, Counter]:
    """Tag a chunk in a worker; returns finished JSON lines, how many are errors, and the backend's counts."""
    if "error" in _WORKER:
        raise _WORKER["error"]
    backend = _WORKER["tagger"].backend
    before = Counter(backend.stats())
    lines = result_lines(_WORKER["tagger"], chunk, _WORKER["scores"], _WORKER["locked"])
    errors = sum("error" in line for line in lines)
    counts = Counter(backend.stats())
    counts.subtract(before)
    return [json.dumps(line, ensure_ascii=False) + "\n" for line in lines], errors, counts


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
    pattern: str | None = None,
    columns: tuple[str, str] = COLUMNS,
    locked: dict | None = None,
) -> BatchSummary:
    """Tag every record of ``input_path`` into the JSONL file ``output_path`` (``-``: standard output).

    ``settings`` gives the model and the default tag limit; ``max_tags`` is an explicit
    limit. Without ``resume`` an existing output is an error, so no work is overwritten.
    ``pattern`` chooses a directory input's files (default: README files); ``columns`` names the
    input's id and README fields. ``locked`` holds tags a person set, by record key
    (:func:`repotag.review.locked_tags`): those records keep them instead of being tagged.
    """
    to_stdout = str(output_path) == STDOUT
    output = Path(output_path)
    if to_stdout:
        if resume:
            raise InputError("--resume needs an output file, not standard output")
    else:
        check_output(output)
        if output.exists() and not resume and output.stat().st_size > 0:
            raise InputError(f"{output} exists: pass --resume to continue it, or choose another output")
    records = read_records(input_path, pattern, columns)
    skip = completed_keys(output) if resume else set()
    workers = max(1, workers or os.cpu_count() or 1)
    settings = settings or Settings()
    if settings.llm_rate:
        settings = settings.with_overrides(llm_rate=settings.llm_rate / workers)  # the limit holds for all of them
    options = {"settings": settings, "taxonomy": taxonomy, "max_tags": max_tags, "scores": scores, "locked": locked}
    summary = BatchSummary()
    started = time.perf_counter()
    if not to_stdout:
        output.parent.mkdir(parents=True, exist_ok=True)
    try:
        opened = _sink(output, to_stdout)
    except OSError as exc:  # a read-only folder, a file without write permission
        raise InputError(f"cannot write {output}: {exc.strerror or exc}") from None
    try:
        with opened as sink:
            def write(tagged: tuple[list[str], int, Counter]) -> None:
                lines, errors, counts = tagged
                for line in lines:
                    sink.write(line)
                    sink.flush()
                summary.errors += errors
                summary.backend.update(counts)
                summary.done += len(lines)
                if on_progress:
                    on_progress(len(lines))

            chunks = _chunks(records, skip, summary)
            # The model is loaded here first, with one worker or many: a damaged model or a
            # bad option ends the run at once with its error, before any worker starts.
            _init_worker(options)
            if "error" in _WORKER:
                raise _WORKER.pop("error")
            if workers == 1:
                for chunk in chunks:
                    write(_tag_chunk(chunk))
            else:
                _WORKER.clear()
                _run_pool(chunks, options, workers, write)
    except OSError as exc:
        # A full disk or a read-only folder: one line, not a chained traceback. Every line written
        # before is whole (each is flushed), so --resume continues exactly where this stopped.
        if isinstance(exc, BrokenPipeError) or exc.errno not in _WRITE_ERRNOS:
            raise
        where = "standard output" if to_stdout else str(output)
        raise InputError(f"cannot write {where}: {exc.strerror}; the results written before are kept, "
                         "and --resume continues from them") from None
    summary.seconds = time.perf_counter() - started
    return summary


def check_output(output: Path) -> None:
    """A JSONL output path, or an :class:`InputError`: the local engine writes JSONL only."""
    if output.is_dir():
        raise InputError(f"{output} is a directory: give a file path for the JSONL output")
    if output.suffix.lower() not in JSONL_SUFFIXES:
        raise InputError(f"{output}: batch output is JSONL; name it .jsonl (or write Parquet with --engine ray "
                         "and a directory output)")


def _sink(output: Path, to_stdout: bool):
    import contextlib
    import sys

    if to_stdout:
        return contextlib.nullcontext(sys.stdout)
    return open(output, "a", encoding="utf-8")


def _run_pool(chunks: Iterator[list[SourceRecord]], options: dict, workers: int, write) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_pool_worker, initargs=(options,)) as pool:
        pending: deque = deque()
        # Bounded in-flight work keeps memory flat and output in input order; results already done are written
        # before the next input is read, which may wait (records streamed on standard input).
        for chunk in chunks:
            pending.append(pool.apply_async(_tag_chunk, (chunk,)))
            while pending and (len(pending) >= 2 * workers or pending[0].ready()):
                write(pending.popleft().get())
        while pending:
            write(pending.popleft().get())
