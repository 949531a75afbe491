"""The ``repotag`` command line: parse input, call the library, print JSON."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any, Callable

import click

from . import __version__
from ._config import Settings
from ._errors import RepotagError
from ._extras import require_extra

EXIT_USAGE = 2


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    click.echo(f"repotag: error: {message}", err=True)
    sys.exit(code)


def handle_errors(command: Callable) -> Callable:
    """Turn library errors into one line on stderr and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RepotagError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            sys.exit(0)

    return wrapper


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


def _load_tagger(model: Path | None, taxonomy: Path | None = None, max_tags: int | None = None,
                 backend: str | None = None, min_score: float | None = None):
    from ._tagger import Tagger

    settings = Settings.from_env(model=model, backend=backend, min_score=min_score)
    return Tagger.load(taxonomy=taxonomy, max_tags=max_tags, settings=settings)


model_option = click.option(
    "--model", type=click.Path(path_type=Path), default=None,
    help="Model directory from 'repotag train' (default: the embedded model).",
)
taxonomy_option = click.option(
    "--taxonomy", type=click.Path(path_type=Path), default=None,
    help='Your tag list: JSON list of {"id", "name"} objects or of names.',
)
backend_option = click.option(
    "--backend", default=None,
    help="What scores READMEs: 'embedded' (default) or a backend registered under 'repotag.backends'.",
)
scores_option = click.option("--scores", is_flag=True, help="Add a confidence (0-1) to each tag.")
min_score_option = click.option(
    "--min-score", type=float, default=None,
    help="Give no tag scoring under this (0-1): a README nothing fits gets []. Default 0 (or REPOTAG_MIN_SCORE).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="repotag")
def main() -> None:
    """Tag software repositories from their README with at most N tags from a controlled list."""


@main.command()
@click.argument("readme", type=click.Path(path_type=Path, allow_dash=True))
@click.option("--id", "record_id", default=None, help="Id echoed in the output (a string).")
@click.option("--name", default=None, help="Repository name, if the id is not of the form owner/name.")
@click.option("--max-tags", type=int, default=None, help="Most tags to return (default 3).")
@taxonomy_option
@model_option
@backend_option
@scores_option
@min_score_option
@handle_errors
def tag(readme: Path, record_id, name, max_tags, taxonomy, model, backend, scores, min_score) -> None:
    """Tag one README file ('-' reads standard input) and print the JSON result."""
    from .pipeline import read_readme_file

    text = read_readme_file(readme)
    tagger = _load_tagger(model, taxonomy, max_tags, backend, min_score)
    _print_json(tagger.tag(text, record_id, name=name).to_dict(scores))


@main.command()
@click.argument("prompt_file", type=click.Path(path_type=Path, allow_dash=True))
@model_option
@backend_option
@scores_option
@min_score_option
@handle_errors
def prompt(prompt_file: Path, model, backend, scores, min_score) -> None:
    """Answer a tagging prompt written for an LLM with the expected JSON."""
    from ._prompt import parse_prompt
    from .pipeline import read_readme_file

    request = parse_prompt(read_readme_file(prompt_file))
    _print_json(_load_tagger(model, backend=backend, min_score=min_score).tag_prompt(request).to_dict(scores))


@main.command()
@click.argument("labels", type=click.Path(path_type=Path))
@click.option("--taxonomy", type=click.Path(path_type=Path), required=True, help="The tag list the labels use.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Model directory to write.")
@click.option("--folds", type=int, default=5, show_default=True, help="Cross-validation folds for calibration.")
@handle_errors
def train(labels: Path, taxonomy: Path, output: Path, folds: int) -> None:
    """Train a model on your labelled READMEs (JSONL of {"id", "readme", "tags"}).

    Tags without examples are scored zero-shot from their name and description.
    """
    from ._taxonomy import Taxonomy
    from .model import TagModel
    from .training import read_labelled, train_model

    if folds < 2:
        raise click.BadParameter("must be at least 2", param_hint="--folds")
    tax = Taxonomy.from_file(taxonomy)
    documents = read_labelled(labels, tax)
    # Zero-shot calibration learnt on the default model's data carries over.
    defaults = TagModel.load()
    result = train_model(tax, documents, folds=folds, zero_shot=defaults.calibration.zero_shot)
    result.model.save(output)
    trained = len(result.model.trained_tags)
    click.echo(f"trained {trained} of {len(tax)} tags on {len(documents)} READMEs "
               f"({len(tax) - trained} zero-shot); saved to {output}", err=True)
    if result.report is not None:
        _print_json({
            "cross_validated": result.nested_report.summary(),  # thresholds chosen on other folds: honest
            "same_folds": result.report.summary(),
            "threshold": result.model.policy.threshold,
            "per_tag_thresholds": result.model.policy.thresholds,
        })


@main.command(name="eval")
@click.argument("predictions", metavar="PRED_OR_MODEL")
@click.argument("gold", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--readmes", type=click.Path(path_type=Path), default=None,
              help="READMEs JSONL to tag when PRED_OR_MODEL is a model (default: readmes.jsonl beside GOLD).")
@click.option("--chart", type=click.Path(path_type=Path), default=None, help="Write a PNG chart here.")
@click.option("--json", "as_json", is_flag=True, help="Print the headline metrics as JSON.")
@handle_errors
def evaluate(predictions: str, gold: Path, readmes: Path | None, chart: Path | None, as_json: bool) -> None:
    """Score predictions (JSONL of {"id", "tags"}) or a model ('default' or a directory) against GOLD."""
    from .evaluation import TaggingEvaluator, read_tag_lists, write_chart

    if chart is not None:
        require_extra("eval")  # before any work, not after it
    gold_tags, _ = read_tag_lists(gold)
    source = Path(predictions)
    if predictions == "default" or source.is_dir():
        predicted, scores = _predict_for_eval(None if predictions == "default" else source,
                                              readmes or gold.parent / "readmes.jsonl")
    elif source.is_file():
        predicted, scores = read_tag_lists(source)
    else:
        _fail(f"{predictions}: neither a predictions file, a model directory nor 'default'")
    report = TaggingEvaluator(gold_tags)(predicted, scores or None)
    if as_json:
        _print_json(report.summary())
    else:
        click.echo(report.format())
    if chart is not None:
        write_chart(report, chart)
        click.echo(f"chart written to {chart}", err=True)


def _predict_for_eval(model: Path | None, readmes: Path):
    from ._tagger import Record
    from .batch import read_records

    tagger = _load_tagger(model)
    records = [Record(r.readme, r.id) for r in read_records(readmes) if r.error is None]
    predicted, scores = {}, {}
    for result in tagger.tag_many(records, errors="record"):
        predicted[result.id] = [t.tag.name for t in result.tags]
        scores[result.id] = [t.score for t in result.tags]
    return predicted, scores


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="JSONL output (Ray: or a Parquet directory).")
@click.option("--resume", is_flag=True, help="Skip ids already in OUTPUT and append the rest.")
@click.option("--workers", type=int, default=None, help="Worker processes (default: all cores).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--batch-size", type=int, default=64, show_default=True, help="Ray: READMEs per batch.")
@click.option("--ray-address", default=None, help="Ray: cluster address (default: start a local Ray).")
@click.option("--max-tags", type=int, default=None, help="Most tags per README (default 3).")
@taxonomy_option
@model_option
@backend_option
@scores_option
@min_score_option
@handle_errors
def batch(input_path, output, resume, workers, engine, batch_size, ray_address, max_tags, taxonomy, model, backend,
          scores, min_score):
    """Tag a catalogue: JSONL/CSV/Parquet of {"id", "readme"}, or a directory of README files."""
    from ._taxonomy import Taxonomy

    if workers is not None and workers < 1:
        raise click.BadParameter("must be at least 1", param_hint="--workers")
    settings = Settings.from_env(model=model, backend=backend, min_score=min_score)
    tax = Taxonomy.from_file(taxonomy) if taxonomy else None
    if engine == "ray":
        from .batch import run_ray

        summary = run_ray(input_path, output, settings=settings, taxonomy=tax, max_tags=max_tags,
                          concurrency=workers, batch_size=batch_size, address=ray_address, scores=scores,
                          resume=resume)
    else:
        from .batch import count_records, run_batch

        with _progress(lambda: count_records(input_path)) as advance:
            summary = run_batch(input_path, output, settings=settings, taxonomy=tax, max_tags=max_tags,
                                workers=workers, resume=resume, scores=scores, on_progress=advance)
    click.echo(summary.format(), err=True)


class _progress:
    """A Rich progress bar (count, READMEs/s, elapsed, ETA) on a terminal; silent otherwise."""

    def __init__(self, total: Callable[[], int | None]):
        self._total = total

    def __enter__(self):
        if not sys.stderr.isatty():
            return None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(TextColumn("tagging"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[rate]:.1f} READMEs/s"), TimeElapsedColumn(),
                             TextColumn("ETA"), TimeRemainingColumn(), transient=False)
        self._bar.start()
        self._task = self._bar.add_task("tagging", total=self._total(), rate=0.0)
        return self._advance

    def _advance(self, count: int) -> None:
        self._bar.advance(self._task, count)
        task = self._bar.tasks[0]
        self._bar.update(self._task, rate=task.completed / task.elapsed if task.elapsed else 0.0)

    def __exit__(self, *exc):
        if sys.stderr.isatty():
            self._bar.stop()
        return False


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--workers", type=int, default=1, show_default=True, help="Server processes.")
@click.option("--api-key", default=None, help="Require 'Authorization: Bearer KEY' (or set REPOTAG_API_KEY).")
@model_option
@backend_option
@min_score_option
@handle_errors
def serve(host: str, port: int, workers: int, api_key: str | None, model: Path | None, backend: str | None,
          min_score: float | None) -> None:
    """Run the HTTP API (REST and OpenAI-compatible chat completions)."""
    import os

    require_extra("serve")
    from .service import run_server

    if workers < 1:
        raise click.BadParameter("must be at least 1", param_hint="--workers")
    settings = Settings.from_env(model=model, api_key=api_key, backend=backend, min_score=min_score)
    if not settings.threads:
        # Each server process gets its share of the cores, so workers do not fight over them.
        settings = settings.with_overrides(threads=max(1, (os.cpu_count() or 1) // workers))
    run_server(settings, host, port, workers)
