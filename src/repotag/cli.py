"""The ``repotag`` command line: parse input, call the library, print JSON."""

from __future__ import annotations

import functools
import json
import signal
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


def _say(message: str) -> None:
    """A progress line on standard error."""
    click.echo(f"repotag: {message}", err=True)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


def _load_tagger(scoring: dict, taxonomy: Path | None = None, max_tags: int | None = None):
    from ._tagger import Tagger

    return Tagger.load(taxonomy=taxonomy, max_tags=max_tags, settings=Settings.from_env(**scoring))


model_option = click.option(
    "--model", type=click.Path(path_type=Path), default=None,
    help="Model directory from 'repotag train' (default: the embedded model).",
)
taxonomy_option = click.option(
    "--taxonomy", type=click.Path(path_type=Path), default=None,
    help='Your tag list: JSON list of {"id", "name"} objects or of names.',
)
scores_option = click.option("--scores", is_flag=True, help="Add a confidence (0-1) to each tag.")
#: What scores READMEs, as ``Settings`` fields; the LLM's API key is deliberately not among them.
_SCORING_OPTIONS = (
    model_option,
    click.option("--backend", default=None,
                 help="What scores READMEs: 'embedded' (default), 'llm' (an OpenAI-compatible server), 'cascade' "
                      "(embedded, and the LLM where unsure), or a backend registered under 'repotag.backends'."),
    click.option("--min-score", type=float, default=None,
                 help="Give no tag scoring under this (0-1): a README nothing fits gets []. Default: 0 for the "
                      "model's own tags, 0.1 for tags it scores zero-shot (or REPOTAG_MIN_SCORE)."),
    click.option("--llm-base-url", default=None,
                 help="LLM: the server's OpenAI-compatible URL, e.g. http://127.0.0.1:8080/v1. Its key is read from "
                      "REPOTAG_LLM_API_KEY or OPENAI_API_KEY only."),
    click.option("--llm-model", default=None, help="LLM: the model name to ask."),
    click.option("--llm-below", type=float, default=None,
                 help="Cascade: READMEs whose top score is under this go to the LLM (default 0.5)."),
    click.option("--llm-prompt", default=None,
                 help="LLM: prompt template, 'default', 'seed' (today's pasted prompt) or a file using $readme, "
                      "$tags, $tag_lines, $max_tags, $id, $name."),
    click.option("--llm-timeout", "llm_timeout_s", type=float, default=None,
                 help="LLM: seconds to wait for an answer (default 60)."),
    click.option("--llm-retries", type=int, default=None,
                 help="LLM: retries after a timeout, 429 or 5xx, with backoff (default 3)."),
    click.option("--llm-concurrency", type=int, default=None, help="LLM: requests in flight per process (default 4)."),
    click.option("--llm-rate", type=float, default=None,
                 help="LLM: most requests per second in all (default: no limit)."),
    click.option("--llm-cache", type=click.Path(path_type=Path), default=None,
                 help="LLM: the answer cache file (default ~/.cache/repotag/llm-answers.sqlite3)."),
    click.option("--no-cache", "llm_no_cache", is_flag=True, help="LLM: neither read nor write the answer cache."),
)


def scoring_options(command: Callable) -> Callable:
    """The options choosing what scores READMEs, handed to the command as one ``scoring`` dict of Settings values."""
    names = ("model", "backend", "min_score", "llm_base_url", "llm_model", "llm_below", "llm_prompt", "llm_timeout_s",
             "llm_retries", "llm_concurrency", "llm_rate", "llm_cache")

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        scoring = {name: kwargs.pop(name) for name in names}
        if kwargs.pop("llm_no_cache"):
            scoring["llm_use_cache"] = False
        return command(*args, scoring=scoring, **kwargs)

    for option in reversed(_SCORING_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


class _OneLineErrors(click.Group):
    """Click's usage errors as the documented one line (``repotag: error: ...``, exit 2), not a usage block."""

    def main(self, *args, **kwargs):
        kwargs.setdefault("prog_name", "repotag")  # also under `python -m repotag`
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:  # bare `repotag`: the help, as click shows it
            click.echo(exc.ctx.get_help() if exc.ctx else "", err=True)
            sys.exit(EXIT_USAGE)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "repotag"
            _fail(f"{exc.format_message()} (see '{command} --help')")
        except click.ClickException as exc:
            _fail(exc.format_message())
        except click.exceptions.Abort:
            _fail("interrupted", 130)


EXAMPLES = """\b
Examples:
  repotag tag README.md --id owner/name              one README (or several, a repo directory, -)
  repotag tag README.md --taxonomy my-tags.json      your own tag list
  repotag batch catalogue.jsonl -o tags.jsonl        a whole catalogue (--resume after a crash)
  repotag serve --port 8000                          the HTTP API, OpenAI-compatible too
  repotag review tags.jsonl --readmes catalogue.jsonl   check suggestions in a web page
"""


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=EXAMPLES)
@click.version_option(__version__, prog_name="repotag")
def main() -> None:
    """Tag software repositories from their README with at most N tags from a controlled list."""


@main.command(short_help="Tag READMEs; one JSON result per line.")
@click.argument("readmes", metavar="README...", nargs=-1, required=True)  # strings: a Path would mangle URLs
@click.option("--id", "record_id", default=None, help="Id echoed in the output (a string; one README only).")
@click.option("--name", default=None, help="Repository name, if the id is not of the form owner/name.")
@click.option("--max-tags", type=int, default=None, help="Most tags to return (default 3).")
@taxonomy_option
@scores_option
@scoring_options
@handle_errors
def tag(readmes: tuple[str, ...], record_id, name, max_tags, taxonomy, scores, scoring) -> None:
    """Tag README files and print one JSON result per line.

    A README is a file ('-' reads standard input, '.gz' is decompressed) or a repository
    directory holding one. With several, each result's id is the path given.

    \b
    Example:  repotag tag README.md --id owner/name
    """
    from .pipeline import read_readme_file

    several = len(readmes) > 1
    if several and (record_id is not None or name is not None):
        raise click.UsageError("--id and --name name one README; with several, each id is its path")
    texts = [read_readme_file(readme) for readme in readmes]  # every file readable before the model loads
    tagger = _load_tagger(scoring, taxonomy, max_tags)
    for readme, text in zip(readmes, texts):
        # A repository directory names the repository; the model uses the name as a hint.
        guessed = Path(readme).resolve().name if readme != "-" and Path(readme).is_dir() else None
        result = tagger.tag(text, readme if several else record_id, name=name or guessed)
        _print_json(result.to_dict(scores))


@main.command(short_help="Answer an LLM tagging prompt with its JSON.")
@click.argument("prompt_file", type=click.Path(path_type=Path, allow_dash=True))
@scores_option
@scoring_options
@handle_errors
def prompt(prompt_file: Path, scores, scoring) -> None:
    """Answer a tagging prompt written for an LLM with the expected JSON."""
    from ._prompt import parse_prompt
    from .pipeline import read_readme_file

    request = parse_prompt(read_readme_file(prompt_file))
    _print_json(_load_tagger(scoring).tag_prompt(request).to_dict(scores))


@main.command(short_help="Train a model on your labelled READMEs.")
@click.argument("labels", type=click.Path(path_type=Path))
@click.option("--taxonomy", type=click.Path(path_type=Path), required=True, help="The tag list the labels use.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Model directory to write.")
@click.option("--folds", type=int, default=5, show_default=True, help="Cross-validation folds for calibration.")
@click.option("--json", "as_json", is_flag=True, help="Print the cross-validated report as JSON.")
@click.option("--base", type=click.Choice(["default", "none"]), default="default", show_default=True,
              help="Build on the default model: your tags that it knows (same name, or its tag that agrees with "
                   "your labels) are scored by it; 'none' learns every tag from your labels alone.")
@handle_errors
def train(labels: Path, taxonomy: Path, output: Path, folds: int, as_json: bool, base: str) -> None:
    """Train a model on your labelled READMEs (JSONL of {"id", "readme", "tags"}).

    Tags the default model knows are scored by it (see --base); tags without
    examples are scored zero-shot from their name and description.
    """
    from ._taxonomy import Taxonomy
    from .model import TagModel
    from .training import read_labelled, train_model

    if folds < 2:
        raise click.BadParameter("must be at least 2", param_hint="--folds")
    require_extra("train")
    tax = Taxonomy.from_file(taxonomy)
    skipped: list[str] = []
    documents = read_labelled(labels, tax, on_skip=skipped.append)
    if skipped:
        click.echo(f"repotag: {len(skipped)} labelled READMEs have no text and are left out ({skipped[0]}"
                   f"{', ...' if len(skipped) > 1 else ''})", err=True)
    # Zero-shot calibration learnt on the default model's data carries over.
    defaults = TagModel.load()
    result = train_model(tax, documents, folds=folds, zero_shot=defaults.calibration.zero_shot,
                         progress=_say, base=defaults if base == "default" else None)
    result.model.save(output)
    known = len(result.model.known_tags)
    from_base = f", {len(result.model.base_tags)} of them by the default model" if base == "default" else ""
    click.echo(f"trained {known} of {len(tax)} tags on {len(documents)} READMEs{from_base} "
               f"({len(tax) - known} zero-shot); saved to {output}", err=True)
    if result.report is None:
        click.echo(f"too few READMEs to cross-validate ({len(documents)}, need {2 * folds}): no report", err=True)
    elif as_json:
        _print_json({
            "cross_validated": result.nested_report.summary(),  # thresholds chosen on other folds: honest
            "same_folds": result.report.summary(),
            "threshold": result.model.policy.threshold,
            "per_tag_thresholds": result.model.policy.thresholds,
        })
    else:
        click.echo(f"{folds}-fold cross-validation; 'honest' chose the thresholds on other folds only\n")
        click.echo(_report_table({"honest": result.nested_report, "same folds": result.report}))
        click.echo(f"\nmodel card: {output / 'MODEL_CARD.md'}")


@main.command(name="eval", short_help="Score predictions or a model against gold tags.")
@click.argument("predictions", metavar="PRED_OR_MODEL")
@click.argument("gold", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--readmes", type=click.Path(path_type=Path), default=None,
              help="READMEs JSONL to tag when PRED_OR_MODEL is a model (default: readmes.jsonl beside GOLD).")
@click.option("--chart", type=click.Path(path_type=Path), default=None, help="Write a PNG chart here.")
@click.option("--json", "as_json", is_flag=True, help="Print the headline metrics as JSON.")
@click.option("--cv", "folds", type=int, default=None,
              help="Score a model directory honestly on its own training labels: retrain its recipe K times, each "
                   "fold scored by a model that never saw it (GOLD in 'repotag train' format).")
@handle_errors
def evaluate(predictions: str, gold: Path, readmes: Path | None, chart: Path | None, as_json: bool,
             folds: int | None) -> None:
    """Score predictions (JSONL of {"id", "tags"}) or a model ('default' or a directory) against GOLD."""
    from .evaluation import TaggingEvaluator, read_tag_lists, write_chart

    if chart is not None:
        require_extra("eval")  # before any work, not after it
    if folds is not None:
        _cross_validate(predictions, gold, folds, as_json)
        return
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
    reviewed = _review_summary(gold)
    subsets = _language_subsets(gold_tags, predicted, readmes or gold.parent / "readmes.jsonl")
    if as_json:
        _print_json({**report.summary(), **({"review": reviewed} if reviewed else {}),
                     **({"subsets": subsets} if subsets else {})})
    else:
        click.echo(report.format())
        for name, summary in subsets.items():
            click.echo(f"\n{name} ({summary['count']} READMEs): micro-F1 {summary['micro_f1']:.3f}, "
                       f"example-F1 {summary['example_f1']:.3f}, top-1 hit {summary['top1_hit']:.3f}")
        if reviewed:  # GOLD is a 'repotag review' labels file: how the suggestions fared with the reviewer
            from .review import format_review_stats

            click.echo("\n" + format_review_stats(reviewed))
    if chart is not None:
        write_chart(report, chart)
        click.echo(f"chart written to {chart}", err=True)


def _language_subsets(gold: dict, predicted: dict, readmes: Path) -> dict:
    """Scores of the Chinese or mixed READMEs (CJK in their opening) and of the others, when both are present."""
    from .batch import read_records
    from .evaluation import TaggingEvaluator
    from .pipeline import CJK_README_SHARE, cjk_share, clean_readme

    if not readmes.is_file():
        return {}
    chinese = set()
    for record in read_records(readmes):
        if record.error is None and record.id in gold and isinstance(record.readme, str):
            if cjk_share(clean_readme(record.readme).text) >= CJK_README_SHARE:  # prose, not badges and HTML
                chinese.add(record.id)
    if not chinese or len(chinese) == len(gold):
        return {}
    subsets = {}
    for name, ids in (("Chinese or mixed", chinese), ("other", set(gold) - chinese)):
        report = TaggingEvaluator({i: gold[i] for i in ids})({i: predicted.get(i, []) for i in ids})
        subsets[name] = report.summary()
    return subsets


def _cross_validate(model: str, labels: Path, folds: int, as_json: bool) -> None:
    """``eval --cv K``: the model's own recipe (hyper-parameters, encoder, taxonomy) retrained K times on ``labels``."""
    from dataclasses import asdict

    if folds < 2:
        raise click.BadParameter("must be at least 2", param_hint="--cv")
    if model == "default" or not Path(model).is_dir():
        raise click.UsageError("--cv retrains a model directory from 'repotag train' on its labels; the default "
                               "model's training data is not shipped: its cross-validated scores come from "
                               "scripts/evaluate_dev.py (README, Accuracy)")
    require_extra("train")
    from .model import TagModel
    from .training import read_labelled, train_model

    trained = TagModel.load(model)
    taxonomy = _load_tagger({"model": Path(model)}).taxonomy
    documents = read_labelled(labels, taxonomy)
    result = train_model(taxonomy, documents, folds=folds, encoder=trained.encoder,
                         zero_shot=trained.calibration.zero_shot, progress=_say, base=trained.base,
                         **asdict(trained.params))
    if result.nested_report is None:
        raise click.UsageError(f"too few READMEs to cross-validate ({len(documents)}, need {2 * folds})")
    if as_json:
        _print_json(result.nested_report.summary())
    else:
        click.echo(f"{folds}-fold cross-validation of {model}'s recipe on {labels}; thresholds chosen on other "
                   "folds only\n")
        click.echo(result.nested_report.format())


def _review_summary(gold: Path) -> dict | None:
    """Acceptance rate and per-tag corrections when ``gold`` holds review decisions, else ``None``."""
    from .review import read_decisions, review_stats

    try:
        stats = review_stats(read_decisions(gold).values())
    except RepotagError:
        return None  # gold in another shape: read_tag_lists already accepted it
    return stats if stats["reviewed"] else None


def _report_table(reports: dict) -> str:
    """Headline metrics of several reports, one row each."""
    names = ("micro_f1", "micro_precision", "micro_recall", "macro_f1", "example_f1", "top1_hit")
    header = f"{'':<12}" + "".join(f"{name:>16}" for name in names)
    rows = [f"{label:<12}" + "".join(f"{report.summary()[name]:>16.3f}" for name in names)
            for label, report in reports.items()]
    return "\n".join([header, *rows])


def _predict_for_eval(model: Path | None, readmes: Path):
    from ._tagger import Record
    from .batch import read_records

    tagger = _load_tagger({"model": model})
    records = [Record(r.readme, r.id) for r in read_records(readmes) if r.error is None]
    tag_model = getattr(tagger.backend, "model", None)
    seen = tag_model.trained_on([r.id for r in records]) if hasattr(tag_model, "trained_on") else []
    if seen:
        click.echo(f"repotag: warning: {len(seen)} of {len(records)} READMEs were training documents of this model: "
                   "their scores are in-sample, not a measure of accuracy (cross-validate instead: "
                   "scripts/evaluate_dev.py for the default model, the report of 'repotag train' for yours)", err=True)
    predicted, scores = {}, {}
    for result in tagger.tag_many(records, errors="record"):
        predicted[result.id] = [t.tag.name for t in result.tags]
        scores[result.id] = [t.score for t in result.tags]
    return predicted, scores


@main.command(short_help="Tag a catalogue (JSONL, CSV, Parquet, a directory).")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path, allow_dash=True), required=True,
              help="JSONL output file, '-' for standard output (Ray: or a Parquet directory).")
@click.option("--glob", "pattern", default=None,
              help="Directory input: the files to tag (default: README files, 'README*' in any case).")
@click.option("--id-field", default="id", show_default=True, help="The input's id column.")
@click.option("--text-field", default="readme", show_default=True, help="The input's README column.")
@click.option("--resume", is_flag=True, help="Skip ids already in OUTPUT and append the rest.")
@click.option("--workers", type=int, default=None, help="Worker processes (default: all cores).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--batch-size", type=int, default=64, show_default=True, help="Ray: READMEs per batch.")
@click.option("--ray-address", default=None, help="Ray: cluster address (default: start a local Ray).")
@click.option("--max-tags", type=int, default=None, help="Most tags per README (default 3).")
@click.option("--labels", "labels", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Reviewed labels ('repotag review'): their locked tags are kept, not tagged again.")
@taxonomy_option
@scores_option
@scoring_options
@handle_errors
def batch(input_path, output, pattern, id_field, text_field, resume, workers, engine, batch_size, ray_address, max_tags,
          labels, taxonomy, scores, scoring):
    """Tag a catalogue: JSONL/CSV/Parquet of {"id", "readme"}, a directory of READMEs, or '-' (JSONL on stdin).

    \b
    Example:  repotag batch catalogue.jsonl -o tags.jsonl --resume
    """
    from ._taxonomy import Taxonomy

    if workers is not None and workers < 1:
        raise click.BadParameter("must be at least 1", param_hint="--workers")
    if id_field == text_field:
        raise click.UsageError("--id-field and --text-field must name different columns")
    settings = Settings.from_env(**scoring)
    tax = Taxonomy.from_file(taxonomy) if taxonomy else None
    locked = None
    if labels is not None:
        from .review import locked_tags

        locked = locked_tags(labels, tax or Taxonomy.default())
    # SIGTERM (kill, a scheduler stopping the job) ends the run like Ctrl-C: the worker pool is shut
    # down first, so no worker is left writing into a closed pipe (70 lines of tracebacks before).
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        summary = _run_batch_engine(engine, input_path, output, settings, tax, max_tags, workers, batch_size,
                                    ray_address, scores, resume, id_field, text_field, pattern, locked)
    except KeyboardInterrupt as stop:
        code = 143 if isinstance(stop, _Terminated) else 130
        _fail(f"{'terminated' if code == 143 else 'interrupted'}: the results written so far are kept; "
              "--resume continues from them", code)
    click.echo(summary.format(), err=True)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread is, so that clean-up runs."""


def _raise_terminated(*_):
    raise _Terminated()


def _run_batch_engine(engine, input_path, output, settings, tax, max_tags, workers, batch_size, ray_address, scores,
                      resume, id_field, text_field, pattern, locked):
    if engine == "ray":
        from .batch import run_ray

        return run_ray(input_path, output, settings=settings, taxonomy=tax, max_tags=max_tags,
                       concurrency=workers, batch_size=batch_size, address=ray_address, scores=scores,
                       resume=resume, columns=(id_field, text_field), locked=locked)
    from .batch import count_records, run_batch

    with _progress(lambda: count_records(input_path, pattern)) as advance:
        return run_batch(input_path, output, settings=settings, taxonomy=tax, max_tags=max_tags,
                         workers=workers, resume=resume, scores=scores, on_progress=advance, pattern=pattern,
                         columns=(id_field, text_field), locked=locked)


class _progress:
    """A Rich progress bar (count, READMEs/s, elapsed, ETA) on a terminal; silent otherwise."""

    def __init__(self, total: Callable[[], int | None], console=None):
        self._total = total
        self._console = console  # default: standard error, when it is a terminal
        self._bar = None

    def __enter__(self):
        if self._console is None:
            if not sys.stderr.isatty():
                return None
            from rich.console import Console

            # Standard error: with `-o -` the results go to standard output and must stay clean JSON lines.
            self._console = Console(stderr=True)
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        # The model loads before the first README is tagged: say so rather than show 0 READMEs/s.
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[rate]:.1f} READMEs/s"), TimeElapsedColumn(),
                             TextColumn("ETA"), TimeRemainingColumn(), transient=False, console=self._console)
        self._bar.start()
        self._task = self._bar.add_task("loading model", total=self._total(), rate=0.0)
        self._bar.refresh()  # shown now, not at the next timed refresh
        return self._advance

    def _advance(self, count: int) -> None:
        self._bar.advance(self._task, count)
        task = self._bar.tasks[0]
        self._bar.update(self._task, description="tagging",
                         rate=task.completed / task.elapsed if task.elapsed else 0.0)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
        return False


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--workers", type=int, default=1, show_default=True, help="Server processes.")
@click.option("--api-key", default=None,
              help="Require 'Authorization: Bearer KEY'. Visible to other users in `ps`: prefer REPOTAG_API_KEY "
                   "or --api-key-file.")
@click.option("--api-key-file", type=click.Path(path_type=Path), default=None,
              help="Read the required bearer key from this file (its first line).")
@scoring_options
@handle_errors
def serve(host: str, port: int, workers: int, api_key: str | None, api_key_file: Path | None, scoring: dict) -> None:
    """Run the HTTP API (REST and OpenAI-compatible chat completions)."""
    import os

    require_extra("serve")
    from .service import run_server

    if workers < 1:
        raise click.BadParameter("must be at least 1", param_hint="--workers")
    if api_key_file is not None:
        if api_key is not None:
            raise click.UsageError("give --api-key or --api-key-file, not both")
        api_key = _read_key(api_key_file)
    settings = Settings.from_env(api_key=api_key, **scoring)
    settings = settings.with_overrides(encoder_spinning=False)  # concurrent requests share the cores
    if not settings.threads:
        # Each server process gets its share of the cores, so workers do not fight over them.
        settings = settings.with_overrides(threads=max(1, (os.cpu_count() or 1) // workers))
    if settings.llm_rate:
        settings = settings.with_overrides(llm_rate=settings.llm_rate / workers)  # the limit holds for all of them
    run_server(settings, host, port, workers)


@main.command(short_help="Review suggestions in a local web page; decisions become labels.")
@click.argument("results", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--readmes", type=click.Path(path_type=Path), required=True,
              help="The batch input the results came from (JSONL, CSV, Parquet or a directory).")
@click.option("--labels", type=click.Path(path_type=Path, dir_okay=False), default=Path("reviewed.jsonl"),
              show_default=True, help="Decisions file (repotag train's format); reopening resumes from it.")
@click.option("--port", type=int, default=8765, show_default=True, help="Port on 127.0.0.1.")
@click.option("--reviewer", default=None, help="Name written with each decision (default: your user name).")
@click.option("--export", "export_format", type=click.Choice(["label-studio", "argilla"]), default=None,
              help="Instead of serving, print the reviewed set as Label Studio or Argilla import JSON.")
@taxonomy_option
@model_option
@handle_errors
def review(results: Path, readmes: Path, labels: Path, port: int, reviewer: str | None, export_format: str | None,
           taxonomy: Path | None, model: Path | None) -> None:
    """Check the model's suggestions (least confident first), accept or correct them with the keyboard.

    RESULTS is 'repotag batch --scores' output. Each decision is appended to --labels at once; the
    model learns it for the rest of the session, and 'repotag train' and 'repotag batch --labels' use it.

    \b
    Example:  repotag review tags.jsonl --readmes catalogue.jsonl --labels reviewed.jsonl
    """
    require_extra("serve")
    from .review import EXPORTS, ReviewSession, read_decisions

    if export_format:
        _print_json(EXPORTS[export_format](read_decisions(labels).values()))
        return
    tagger = _load_tagger({"model": model}, taxonomy)
    session = ReviewSession(results, readmes, labels, tagger, reviewer)
    import uvicorn

    from .review._app import create_review_app
    from .service import listening_socket
    from .service._app import http_protocol

    sock = listening_socket("127.0.0.1", port)  # a port in use is one error line, before anything starts
    click.echo(f"reviewing {len(session.items)} READMEs ({len(session.decisions)} already reviewed) at "
               f"http://127.0.0.1:{sock.getsockname()[1]}/ ; decisions go to {labels}", err=True)
    if session.missing:
        click.echo(f"{session.missing} results have no README in {readmes} and are left out", err=True)
    config = uvicorn.Config(create_review_app(session), log_level="warning",
                            http=http_protocol(Settings.from_env().request_head_timeout_s))
    uvicorn.Server(config).run(sockets=[sock])


def _read_key(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.UsageError(f"cannot read the API key file {path}: {getattr(exc, 'strerror', None) or exc}")
    key = lines[0].strip() if lines else ""
    if not key:
        raise click.UsageError(f"the API key file {path} is empty")
    return key
