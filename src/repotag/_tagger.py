"""The core: README in, valid tag list out. The CLI, service and batch engines all call this."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Literal, Mapping, Sequence

from ._config import Settings
from ._errors import InputError, RepotagError
from ._features import document_text, repository_name
from ._prompt import TaggingPrompt, parse_prompt
from ._reading import ReadmeSource, as_text
from ._rules import ScoredTag, check_max_tags, resolve_max_tags, select_tags
from ._taxonomy import Taxonomy

if TYPE_CHECKING:
    from ._model import TagModel


@dataclass(frozen=True)
class TagResult:
    """Tags for one README, serialising to ``{"id": ..., "tags": [{"id", "name"}, ...]}``.

    A record that could not be tagged carries ``error`` instead and serialises
    to ``{"id": ..., "error": "..."}``.
    """

    id: Any
    tags: list[ScoredTag] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self, scores: bool = False) -> dict[str, Any]:
        if self.error is not None:
            return {"id": self.id, "error": self.error}
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


def _as_record(item: Any) -> Record:
    if isinstance(item, Record):
        return item
    if isinstance(item, Mapping):
        if "readme" not in item:
            raise InputError("record has no 'readme' field")
        return Record(readme=item["readme"], id=item.get("id"), name=item.get("name"))
    if isinstance(item, tuple) and len(item) == 2:
        return Record(readme=item[1], id=item[0])
    if isinstance(item, (str, bytes, bytearray)):
        return Record(readme=item)
    raise InputError(f"cannot tag a {type(item).__name__}: give a README text or a {{'id', 'readme'}} record")


class Tagger:
    """Tags READMEs with at most N tags from a taxonomy.

    >>> tagger = Tagger.load()                       # embedded default model
    >>> tagger.tag(readme_text, id="6186").to_dict()
    {'id': '6186', 'tags': [{'id': 17, 'name': 'ai'}, ...]}
    """

    def __init__(self, model: "TagModel", taxonomy: Taxonomy | None = None, max_tags: int = 3, batch_size: int = 32):
        self.model = model
        self.taxonomy = taxonomy or Taxonomy.default()
        self.max_tags = check_max_tags(max_tags, self.taxonomy)
        self.batch_size = batch_size

    @classmethod
    def load(
        cls,
        model: str | Path | None = None,
        taxonomy: Taxonomy | str | Path | None = None,
        max_tags: int | None = None,
        settings: Settings | None = None,
    ) -> "Tagger":
        """Load a model (default: the embedded one) for a taxonomy (default: the model's own).

        ``taxonomy`` may be a :class:`Taxonomy` or a path to a taxonomy JSON file.
        """
        from ._model import TagModel

        settings = settings or Settings()
        loaded = TagModel.load(model if model is not None else settings.model, threads=settings.threads)
        if isinstance(taxonomy, (str, Path)):
            taxonomy = Taxonomy.from_file(taxonomy)
        if taxonomy is None:
            taxonomy = model_taxonomy(loaded)
        return cls(loaded, taxonomy, resolve_max_tags(max_tags, settings.max_tags, taxonomy), settings.batch_size)

    def tag(
        self,
        readme: ReadmeSource,
        id: Any = None,
        *,
        name: str | None = None,
        taxonomy: Taxonomy | None = None,
        max_tags: int | None = None,
    ) -> TagResult:
        """Tag one README (text or bytes). Raises :class:`RepotagError` on unreadable input."""
        return next(self._tag_batch([Record(readme, id, name)], taxonomy, max_tags, "raise"))

    def tag_prompt(self, prompt: "TaggingPrompt | str") -> TagResult:
        """Answer a tagging prompt written for an LLM (text or parsed) with the expected result."""
        if isinstance(prompt, str):
            prompt = parse_prompt(prompt)
        limit = min(prompt.max_tags, len(prompt.taxonomy))
        return self.tag(prompt.readme, prompt.id, taxonomy=prompt.taxonomy, max_tags=limit)

    def tag_many(
        self,
        records: Iterable[Any],
        *,
        taxonomy: Taxonomy | None = None,
        max_tags: int | None = None,
        errors: Literal["raise", "record"] = "raise",
    ) -> Iterator[TagResult]:
        """Tag many READMEs, in order, encoding them in batches.

        Items are :class:`Record` objects, ``{"id", "readme"}`` mappings, ``(id, readme)``
        pairs or README texts. With ``errors="record"`` a bad item yields a result whose
        ``error`` says why, and tagging goes on.
        """
        batch: list[Any] = []
        for item in records:
            batch.append(item)
            if len(batch) >= self.batch_size:
                yield from self._tag_batch(batch, taxonomy, max_tags, errors)
                batch = []
        if batch:
            yield from self._tag_batch(batch, taxonomy, max_tags, errors)

    def _tag_batch(
        self, items: Sequence[Any], taxonomy: Taxonomy | None, max_tags: int | None, errors: str
    ) -> Iterator[TagResult]:
        taxonomy = taxonomy or self.taxonomy
        limit = resolve_max_tags(max_tags, self.max_tags, taxonomy)
        prepared: list[tuple[Any, str | None, str | None]] = []  # (id, document or None, error)
        for item in items:
            record_id = _record_id(item)
            try:
                record = _as_record(item)
                text = as_text(record.readme)
                document = None
                if text.strip():
                    document = document_text(text, record.name or repository_name(record.id)) or None
                prepared.append((record.id, document, None))
            except RepotagError as exc:
                if errors == "raise":
                    raise
                prepared.append((record_id, None, str(exc)))
        documents = [doc for _, doc, _ in prepared if doc is not None]
        scores = iter(self.model.predict_proba(documents, taxonomy) if documents else [])
        config = self.model.config
        thresholds = config.thresholds_for(taxonomy.keys)
        for record_id, document, error in prepared:
            if error is not None:
                yield TagResult(record_id, error=error)
            elif document is None:
                yield TagResult(record_id, [])  # empty text: nothing to tag
            else:
                chosen = select_tags(next(scores), taxonomy, limit, thresholds, config.min_top_score)
                yield TagResult(record_id, chosen)


def model_taxonomy(model: "TagModel") -> Taxonomy:
    """The taxonomy a model was built for: the bundled default, or the one saved with it."""
    saved = model.config.card.get("taxonomy")
    if saved:
        return Taxonomy.from_json(saved).with_descriptions(model.config.descriptions)
    return Taxonomy.default()
