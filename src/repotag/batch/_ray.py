"""Batch tagging on Ray Data, for catalogues beyond one machine.

The same :class:`~repotag.Tagger` runs inside a pool of Ray actors
(``map_batches`` with a stateful class: the model loads once per actor).
JSONL, CSV and Parquet are read by Ray; a ``.jsonl`` output is streamed to one
file in the local engine's format, any other output is written by Ray as a
directory of Parquet files with columns ``id`` and ``result`` (the JSON line).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from .._config import Settings
from .._errors import InputError, RepotagError
from .._extras import require_extra
from ._local import BatchSummary
from ._records import COLUMNS, completed_keys, input_format, result_lines, validate_record


class RayTagger:
    """Stateful ``map_batches`` class: one tagger per actor."""

    def __init__(self, settings: Settings, taxonomy: list | None, max_tags: int | None, scores: bool,
                 skip: frozenset = frozenset(), locked: dict | None = None):
        from .._tagger import start_worker
        from .._taxonomy import Taxonomy

        tax = Taxonomy.from_json(taxonomy) if taxonomy is not None else None
        self.tagger = start_worker(settings.with_overrides(threads=1), tax, max_tags)  # one core per actor
        self.scores = scores
        self.skip = skip  # resume keys already in the output
        self.locked = locked  # tags a person set, by resume key

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        # A row's id comes back as given even when the record is unusable (validation drops bad ids).
        ids = [_plain(i) for i in batch["id"]]
        records = [validate_record({"id": i, "readme": r}, None) for i, r in zip(ids, batch["readme"])]
        kept = [i for i, record in enumerate(records) if record.id is None or record.key not in self.skip]
        lines = result_lines(self.tagger, [records[i] for i in kept], self.scores, self.locked)
        return {"id": [json.dumps(ids[i]) for i in kept], "result": [json.dumps(line, ensure_ascii=False) for line in lines]}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


#: Reading and writing are I/O: they reserve no CPU, so the cores stay with the tagger
#: actors (with actors holding every CPU, a reserving read task would never be scheduled).
IO_TASKS = {"num_cpus": 0}


def _is_remote(location: str) -> bool:
    return "://" in location


def _read(ray_data, location: str):
    kind = "parquet" if _is_remote(location) and not Path(location).suffix else input_format(location)
    readers = {"jsonl": ray_data.read_json, "csv": ray_data.read_csv, "parquet": ray_data.read_parquet,
               "directory": ray_data.read_parquet}
    return readers[kind](location, **IO_TASKS)


def run_ray(
    input_path: str | Path,
    output_path: str | Path,
    *,
    settings: Settings | None = None,
    taxonomy=None,
    max_tags: int | None = None,
    concurrency: int | None = None,
    batch_size: int = 64,
    address: str | None = None,
    scores: bool = False,
    resume: bool = False,
    columns: tuple[str, str] = COLUMNS,
    locked: dict | None = None,
) -> BatchSummary:
    """Tag ``input_path`` on Ray; ``address`` joins an existing cluster, else a local Ray starts.

    Paths may be URIs Ray can read and write (``s3://``, ``gs://``...) for cluster runs.
    ``resume`` continues a local ``.jsonl`` output: ids already in it are not tagged again.
    """
    require_extra("ray")
    import ray
    import ray.data

    source, target = str(input_path), str(output_path)
    if not _is_remote(source) and not Path(source).exists():
        raise InputError(f"input not found: {source}")
    streamed = target.lower().endswith(".jsonl") and not _is_remote(target)
    if resume and not streamed:
        raise InputError(f"{target}: the Ray engine resumes a local .jsonl output only")
    if not _is_remote(target) and Path(target).exists() and not (resume and streamed):
        raise InputError(f"{target} exists: pass --resume to continue it, or choose another output")
    skip = frozenset(completed_keys(Path(target))) if resume else frozenset()
    # The model is loaded here first: a damaged model or a bad option is one error line now,
    # not a Ray job whose every actor fails with a traceback.
    from .._tagger import Tagger

    Tagger.load(taxonomy=taxonomy, max_tags=max_tags, settings=settings or Settings())
    started = time.perf_counter()
    if not ray.is_initialized():
        ray.init(address=address, num_cpus=None if address else concurrency, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        dataset = _read(ray.data, source)
        missing = set(columns) - set(dataset.schema().names)
    except Exception as exc:  # Ray wraps reader errors in several types
        raise InputError(f"{source}: cannot read input ({str(exc).splitlines()[0][:200]})") from None
    if missing:
        raise InputError(f"{source}: input lacks column(s) {', '.join(sorted(missing))}")
    if columns != COLUMNS:
        dataset = dataset.select_columns(list(columns)).rename_columns(dict(zip(columns, COLUMNS)))
    tagged = dataset.select_columns(list(COLUMNS)).map_batches(
        RayTagger,
        fn_constructor_kwargs={
            "settings": settings or Settings(),
            "taxonomy": taxonomy.to_list() if taxonomy is not None else None,
            "max_tags": max_tags,
            "scores": scores,
            "skip": skip,
            "locked": locked,
        },
        batch_size=batch_size,
        batch_format="numpy",
        concurrency=concurrency or 1,
        num_cpus=1,
    )
    summary = BatchSummary(skipped=len(skip))
    try:
        if streamed:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            with open(target, "a", encoding="utf-8") as sink:
                for row in tagged.iter_rows():
                    sink.write(row["result"] + "\n")
                    sink.flush()
                    summary.done += 1
                    summary.errors += "error" in json.loads(row["result"])
        else:
            tagged.write_parquet(target, ray_remote_args=IO_TASKS)
            summary.done = ray.data.read_parquet(target, **IO_TASKS).count()  # from metadata, not a re-run
    except Exception as exc:  # an actor's start-up error (bad model, limit) arrives wrapped by Ray
        raise RepotagError(f"Ray job failed: {_root_message(exc)}") from None
    summary.seconds = time.perf_counter() - started
    return summary


def _root_message(exc: BaseException) -> str:
    """The original error's message from a Ray-wrapped exception, on one line.

    Ray puts the remote traceback in the outer exception's text, ending with the
    original ``module.ErrorClass: message`` line; its causes may be empty.
    """
    seen: BaseException | None = exc
    while seen is not None:
        lines = [_ANSI.sub("", line).strip() for line in str(seen).splitlines()]
        lines = [line for line in lines if line]
        if lines:
            last = _ERROR_LINE.sub("", lines[-1])
            return last[:300]
        seen = seen.__cause__
    return type(exc).__name__


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ERROR_LINE = re.compile(r"^[\w.]+(Error|Exception): ")
