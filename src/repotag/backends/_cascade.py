"""The cascade: the embedded model tags first; only the READMEs it is unsure about go to the LLM."""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING, Any, Sequence

from .._errors import RepotagError
from .._rules import DecisionPolicy
from .._taxonomy import Taxonomy
from ._base import Backend, Document, Scores, row_policy
from ._llm import LLMBackend, with_llm_options

if TYPE_CHECKING:
    from .._config import Settings


class CascadeBackend(Backend):
    """``first`` scores every README; a README whose top score is under ``below`` (or that ``first``
    gives no tag) is asked of ``second`` instead, and takes its answer, errors included."""

    def __init__(self, first: Backend, second: Backend, below: float = 0.5):
        self.first, self.second, self.below = first, second, below
        self.name = f"cascade:{first.name}+{second.name}"
        self._sent: Counter = Counter(cascade_first=0, cascade_second=0)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, settings: "Settings", model: Any = None, **options: Any) -> "CascadeBackend":
        """The embedded model (``model``: its directory) and the LLM backend, both from ``settings``."""
        from ._embedded import EmbeddedBackend

        settings = with_llm_options(settings, options, "cascade")
        first = EmbeddedBackend.load(settings, model=model)
        # A README the user's --min-score leaves untagged is one the model is unsure of, too.
        return cls(first, LLMBackend.load(settings), max(settings.llm_below, settings.min_score or 0.0))

    @property
    def policy(self) -> DecisionPolicy:  # type: ignore[override]
        return self.first.policy  # the second backend's rows carry their own

    @property
    def taxonomy(self) -> Taxonomy:
        return self.first.taxonomy

    def default_min_score(self, taxonomy: Taxonomy) -> float:
        return self.first.default_min_score(taxonomy)

    def stats(self) -> dict[str, float]:
        with self._lock:
            return {**self.second.stats(), **self._sent}

    def unsure(self, row: Scores | RepotagError, taxonomy: Taxonomy) -> bool:
        """Whether the first backend's row goes to the second: no tag, or a top score under ``below``."""
        if isinstance(row, RepotagError) or row is None:
            return True
        return max(row, default=0.0) < self.below or not row_policy(row, self.first).select(row, taxonomy, 1)

    def score(self, documents: Sequence[Document], taxonomy: Taxonomy) -> list[Scores | RepotagError]:
        rows = list(self.first.score(documents, taxonomy))
        asked = [i for i, row in enumerate(rows) if self.unsure(row, taxonomy)]
        if asked:
            for i, row in zip(asked, self.second.score([documents[i] for i in asked], taxonomy)):
                rows[i] = row
        with self._lock:
            self._sent["cascade_second"] += len(asked)
            self._sent["cascade_first"] += len(rows) - len(asked)
        return rows
