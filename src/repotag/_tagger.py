"""The core: README in, valid tag list out. The CLI, service and batch engines all call this."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Mapping, Sequence

from ._config import Settings
from ._errors import BackendError, InputError, ModelError, RepotagError
from ._prompt import TaggingPrompt, parse_prompt
from ._rules import ScoredTag, check_min_score, resolve_max_tags
from ._taxonomy import Taxonomy
from .backends._base import Backend, Document, row_policy
from .pipeline._features import repository_name
from .pipeline._reading import ReadmeSource, as_text


@dataclass(frozen=True)
class TagResult:
    """Tags for one README, serialising to ``{"id": ..., "tags": [{"id", "name"}, ...]}``.

    A record that could not be tagged carries ``error`` instead and serialises
    to ``{"id": ..., "error": "..."}``, with ``"retryable": true`` when the backend failed
    (an LLM server down) rather than the input: trying again later may succeed.
    """

    id: Any
    tags: list[ScoredTag] = field(default_factory=list)
    error: str | None = None
    retryable: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self, scores: bool = False) -> dict[str, Any]:
        if self.error is not None:
            return {"id": self.id, "error": self.error, **({"retryable": True} if self.retryable else {})}
        return {"id": self.id, "tags": [t.to_dict(scores) for t in self.tags]}

    def to_json(self, scores: bool = False) -> str:
        return json.dumps(self.to_dict(scores), ensure_ascii=False)


@dataclass(frozen=True)
class Record:
    """One README to tag. ``name`` defaults to the repository part of an ``owner/name`` id."""

    readme: ReadmeSource
    id: Any = None
    name: str | None = None


def _record_id(item: Any) -> Any:
    if isinstance(item, Mapping):
        return item.get("id")
    if isinstance(item, tuple) and len(item) == 2:
        return item[0]
    return getattr(item, "id", None)


def readme_of(row: Mapping[str, Any]) -> ReadmeSource:
    """The README of a record given as a mapping; raises :class:`InputError` saying what is wrong."""
    readme = row.get("readme")
    if readme is None:
        raise InputError("record has no 'readme' field")
    if not isinstance(readme, (str, bytes, bytearray)):
        raise InputError("'readme' must be a string")
    return readme


def _as_record(item: Any) -> Record:
    if isinstance(item, Record):
        return item
    if isinstance(item, Mapping):
        return Record(readme=readme_of(item), id=item.get("id"), name=item.get("name"))
    if isinstance(item, tuple) and len(item) == 2:
        return Record(readme=item[1], id=item[0])
    if isinstance(item, (str, bytes, bytearray)):
        return Record(readme=item)
    raise InputError(f"cannot tag a {type(item).__name__}: give a README text or a {{'id', 'readme'}} record")


class Tagger:
    """Tags READMEs with at most N tags from a taxonomy, whatever backend scores them.

    The tagger holds the policy every backend shares: reading the input, error
    records, the tag limit, choosing tags from scores, and the result objects.

    >>> tagger = Tagger.load()                       # embedded default model
    >>> tagger.tag(readme_text, id="6186").to_dict()
    {'id': '6186', 'tags': [{'id': 17, 'name': 'ai'}, ...]}
    >>> Tagger(FixedScores({"cli": 0.9})).tag("any text").to_dict()
    {'id': None, 'tags': [{'id': 4, 'name': 'cli'}]}
    """

    def __init__(self, backend: Backend, taxonomy: Taxonomy | None = None, max_tags: int | None = None,
                 batch_size: int = 32, min_score: float | None = None):
        self.backend = backend
        self.taxonomy = taxonomy or backend.taxonomy
        self.max_tags = resolve_max_tags(max_tags, 3, self.taxonomy)
        self.batch_size = batch_size
        #: The floor under which no tag is given; ``None``: the backend's default for each taxonomy.
        self.min_score = None if min_score is None else check_min_score(min_score)

    @classmethod
    def load(
        cls,
        model: str | Path | None = None,
        taxonomy: Taxonomy | str | Path | None = None,
        max_tags: int | None = None,
        settings: Settings | None = None,
        *,
        backend: str | None = None,
        **options: Any,
    ) -> "Tagger":
        """Load a backend by name (default: the embedded model) for a taxonomy (default: the backend's own).

        ``model`` is the embedded backend's model directory; ``taxonomy`` a :class:`Taxonomy` or a
        path to a taxonomy JSON file; other keyword arguments go to the backend's ``load``.
        """
        from .backends import get_backend

        settings = settings or Settings()
        if model is not None:
            options["model"] = model
        loaded = get_backend(backend or settings.backend).load(settings, **options)
        if isinstance(taxonomy, (str, Path)):
            taxonomy = Taxonomy.from_file(taxonomy)
        taxonomy = taxonomy or loaded.taxonomy
        return cls(loaded, taxonomy, resolve_max_tags(max_tags, settings.max_tags, taxonomy), settings.batch_size,
                   settings.min_score)

    @property
    def name(self) -> str:
        """The backend's name, as clients see it."""
        return self.backend.name

    def tag(
        self,
        readme: ReadmeSource,
        id: Any = None,
        *,
        name: str | None = None,
        taxonomy: Taxonomy | None = None,
        max_tags: int | None = None,
        min_score: float | None = None,
    ) -> TagResult:
        """Tag one README (text or bytes). Raises :class:`RepotagError` on unreadable input."""
        return next(self._tag_batch([Record(readme, id, name)], taxonomy, max_tags, "raise", min_score))

    def tag_prompt(self, prompt: "TaggingPrompt | str", min_score: float | None = None) -> TagResult:
        """Answer a tagging prompt written for an LLM (text or parsed) with the expected result."""
        if isinstance(prompt, str):
            prompt = parse_prompt(prompt)
        limit = min(prompt.max_tags, len(prompt.taxonomy))
        return self.tag(prompt.readme, prompt.id, taxonomy=prompt.taxonomy, max_tags=limit, min_score=min_score)

    def tag_many(
        self,
        records: Iterable[Any],
        *,
        taxonomy: Taxonomy | None = None,
        max_tags: int | None = None,
        errors: Literal["raise", "record"] = "raise",
        min_score: float | None = None,
    ) -> Iterator[TagResult]:
        """Tag many READMEs, in order, scoring them in batches.

        Items are :class:`Record` objects, ``{"id", "readme"}`` mappings, ``(id, readme)``
        pairs or README texts. With ``errors="record"`` a bad item yields a result whose
        ``error`` says why, and tagging goes on.
        """
        batch: list[Any] = []
        for item in records:
            batch.append(item)
            if len(batch) >= self.batch_size:
                yield from self._tag_batch(batch, taxonomy, max_tags, errors, min_score)
                batch = []
        if batch:
            yield from self._tag_batch(batch, taxonomy, max_tags, errors, min_score)

    def _tag_batch(
        self, items: Sequence[Any], taxonomy: Taxonomy | None, max_tags: int | None, errors: str,
        min_score: float | None = None,
    ) -> Iterator[TagResult]:
        taxonomy = taxonomy or self.taxonomy
        limit = resolve_max_tags(max_tags, self.max_tags, taxonomy)
        if min_score is not None:
            floor = check_min_score(min_score)
        else:
            floor = self.min_score if self.min_score is not None else self.backend.default_min_score(taxonomy)
        prepared: list[tuple[Any, Document | None, str | None]] = []  # (id, document or None, error)
        for item in items:
            record_id = _record_id(item)
            try:
                record = _as_record(item)
                text = as_text(record.readme)
                name = record.name or repository_name(record.id)
                document = Document(text, record.id, name, limit) if text.strip() else None
                prepared.append((record.id, document, None))
            except RepotagError as exc:
                if errors == "raise":
                    raise
                prepared.append((record_id, None, str(exc)))
        documents = [doc for _, doc, _ in prepared if doc is not None]
        rows = iter(self._scores(documents, taxonomy))
        for record_id, document, error in prepared:
            if error is not None:
                yield TagResult(record_id, error=error)
                continue
            scores = next(rows) if document is not None else None
            if isinstance(scores, RepotagError):  # the backend failed this README alone
                if errors == "raise":
                    raise scores
                yield TagResult(record_id, error=str(scores), retryable=isinstance(scores, BackendError))
            elif scores is None:  # empty text, or the backend abstains
                yield TagResult(record_id, [])
            else:
                yield TagResult(record_id, row_policy(scores, self.backend).select(scores, taxonomy, limit, floor))

    def _scores(self, documents: list[Document], taxonomy: Taxonomy) -> list:
        """The backend's rows, held to the interface: one per document, one score per tag (or ``None``)."""
        if not documents:
            return []
        rows = list(self.backend.score(documents, taxonomy))
        if len(rows) != len(documents):
            raise ModelError(f"backend {self.name!r} returned {len(rows)} score rows for {len(documents)} READMEs")
        for row in rows:
            if row is not None and not isinstance(row, RepotagError) and len(row) != len(taxonomy):
                raise ModelError(f"backend {self.name!r} returned {len(row)} scores for a {len(taxonomy)}-tag taxonomy")
        return rows


def start_worker(settings: Settings, taxonomy: Taxonomy | None = None, max_tags: int | None = None) -> Tagger:
    """Load a tagger in a process repotag owns (batch worker, Ray actor, server process).

    numpy's BLAS is kept to one thread there: the neighbour vote is a BLAS product,
    and N processes each starting their own BLAS threads on N cores fight
    (2 workers: 1.60x instead of 1.87x).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    return Tagger.load(taxonomy=taxonomy, max_tags=max_tags, settings=settings)
