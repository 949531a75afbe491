"""The embedded default: the trained :class:`~repotag.model.TagModel` behind the backend interface."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .._rules import DecisionPolicy
from .._taxonomy import Taxonomy
from ..pipeline._features import document_text
from ._base import Backend, Document, Scores

if TYPE_CHECKING:
    from .._config import Settings
    from ..model._estimator import TagModel

DEFAULT_MODEL_NAME = "repotag-default"


#: The default floor for taxonomies with tags the model was not trained on (see ``default_min_score``).
ZERO_SHOT_MIN_SCORE = 0.1


class EmbeddedBackend(Backend):
    """Cleans each README to the text the model reads, then asks the model for calibrated probabilities."""

    def __init__(self, model: "TagModel", name: str = DEFAULT_MODEL_NAME):
        self.model = model
        self.name = name

    @classmethod
    def load(cls, settings: "Settings", model: str | Path | None = None, **options: Any) -> "EmbeddedBackend":
        from ..model._estimator import TagModel

        if options:
            raise TypeError(f"unexpected option(s) for the embedded backend: {', '.join(sorted(options))}")
        directory = model if model is not None else settings.model
        loaded = TagModel.load(directory, threads=settings.threads, spinning=settings.encoder_spinning)
        loaded.encoder.dimension  # opens the encoder now: a damaged one fails at load, not mid-run
        return cls(loaded, model_name(directory, loaded))

    @property
    def policy(self) -> DecisionPolicy:  # type: ignore[override]
        return self.model.policy

    @property
    def taxonomy(self) -> Taxonomy:
        """The taxonomy the model was built for: the bundled default, or the one saved with it."""
        saved = self.model.card.get("taxonomy")
        if saved:
            return Taxonomy.from_json(saved).with_descriptions(self.model.descriptions)
        return Taxonomy.default()

    def default_min_score(self, taxonomy: Taxonomy) -> float:
        """0 for the model's own tags; :data:`ZERO_SHOT_MIN_SCORE` when the taxonomy has tags it scores zero-shot.

        Zero-shot scores of a tag list that does not fit a README stay low: a forced best tag is then
        noise. Measured on dev (the default tags renamed, so that all are zero-shot): micro-F1 0.612
        at 0 and 0.616 at 0.1, with 7 of 178 READMEs left untagged; with the 4-tag list of CLI, Python
        library, HTTP service and batch, 124 of 132 READMEs unrelated to them get no tag at 0.1 (none at 0).
        """
        known = self.model.known_tags
        return 0.0 if all(tag.key in known for tag in taxonomy) else ZERO_SHOT_MIN_SCORE

    def score(self, documents: Sequence[Document], taxonomy: Taxonomy) -> list[Scores]:
        texts = [document_text(d.text, d.name) for d in documents]
        rows: list[Scores] = [None] * len(documents)  # nothing left after cleaning: no tags
        readable = [i for i, text in enumerate(texts) if text]
        if readable:
            probabilities = self.model.predict_proba([texts[i] for i in readable], taxonomy)
            for i, row in zip(readable, probabilities):
                rows[i] = row
        return rows


def model_name(directory: str | Path | None, model: "TagModel") -> str:
    """The name a model is served under: its card's name, else ``repotag-<folder>``, else the default's."""
    if model.card.get("name"):
        return str(model.card["name"])
    return DEFAULT_MODEL_NAME if directory is None else f"repotag-{Path(directory).resolve().name}"
