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

from ._batch import BatchSummary
from ._config import Settings
from ._errors import InputError, RepotagError


class RayTagger:
    """Stateful ``map_batches`` class: one tagger per actor."""

    def __init__(self, settings: Settings, taxonomy: list | None, max_tags: int | None, scores: bool):
        from ._model import use_one_blas_thread
        from ._tagger import Tagger
        from ._taxonomy import Taxonomy

        use_one_blas_thread()
        settings = settings.with_overrides(threads=1)  # one core per actor
        tax = Taxonomy.from_json(taxonomy) if taxonomy is not None else None
        self.tagger = Tagger.load(settings.model, tax, max_tags, settings=settings)
        self.scores = scores

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        from ._tagger import Record

        ids = [_plain(i) for i in batch["id"]]
        readmes = batch["readme"]
        lines: list[dict] = [{} for _ in ids]
        good = []
        for index, (record_id, readme) in enumerate(zip(ids, readmes)):
            if record_id is None or record_id == "":
                lines[index] = {"id": None, "error": "record has no id"}
            elif readme is None:
                lines[index] = {"id": record_id, "error": "record has no 'readme' field"}
            else:
                good.append(index)
        results = self.tagger.tag_many((Record(readmes[i], ids[i]) for i in good), errors="record")
        for index, result in zip(good, results):
            lines[index] = result.to_dict(self.scores)
        return {"id": [json.dumps(i) for i in ids], "result": [json.dumps(line, ensure_ascii=False) for line in lines]}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


#: Reading and writing are I/O: they reserve no CPU, so the cores stay with the tagger
#: actors (with actors holding every CPU, a reserving read task would never be scheduled).
IO_TASKS = {"num_cpus": 0}


def _is_remote(location: str) -> bool:
    return "://" in location


def _read(ray_data, location: str):
    path = Path(location)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return ray_data.read_json(location, **IO_TASKS)
    if suffix == ".csv":
        return ray_data.read_csv(location, **IO_TASKS)
    if suffix in (".parquet", ".pq") or _is_remote(location) or path.is_dir():
        return ray_data.read_parquet(location, **IO_TASKS)
    raise InputError(f"{location}: the Ray engine reads .jsonl, .csv or .parquet (files or a Parquet directory)")


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
) -> BatchSummary:
    """Tag ``input_path`` on Ray; ``address`` joins an existing cluster, else a local Ray starts.

    Paths may be URIs Ray can read and write (``s3://``, ``gs://``...) for cluster runs.
    """
    try:
        import ray
        import ray.data
    except ImportError:
        raise InputError('the Ray engine needs its extra: pip install "repotag[ray]"') from None
    source, target = str(input_path), str(output_path)
    if not _is_remote(source) and not Path(source).exists():
        raise InputError(f"input not found: {source}")
    if not _is_remote(target) and Path(target).exists():
        raise InputError(f"{target} exists: the Ray engine does not resume; choose another output")
    started = time.perf_counter()
    if not ray.is_initialized():
        ray.init(address=address, num_cpus=None if address else concurrency, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        dataset = _read(ray.data, source)
        missing = {"id", "readme"} - set(dataset.schema().names)
    except Exception as exc:  # Ray wraps reader errors in several types
        raise InputError(f"{source}: cannot read input ({str(exc).splitlines()[0][:200]})") from None
    if missing:
        raise InputError(f"{source}: input lacks column(s) {', '.join(sorted(missing))}")
    tagged = dataset.select_columns(["id", "readme"]).map_batches(
        RayTagger,
        fn_constructor_kwargs={
            "settings": settings or Settings(),
            "taxonomy": taxonomy.to_list() if taxonomy is not None else None,
            "max_tags": max_tags,
            "scores": scores,
        },
        batch_size=batch_size,
        batch_format="numpy",
        concurrency=concurrency or 1,
        num_cpus=1,
    )
    summary = BatchSummary()
    try:
        if target.lower().endswith(".jsonl") and not _is_remote(target):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            with open(target, "w", encoding="utf-8") as sink:
                for row in tagged.iter_rows():
                    sink.write(row["result"] + "\n")
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
