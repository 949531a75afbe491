"""A backend that returns the scores it is given: exact tests and examples without model weights."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence, Union

from .._rules import DecisionPolicy
from .._taxonomy import Taxonomy, tag_key
from ._base import Backend, Document, Scores

ScoreTable = Mapping[str, float]


class FixedScores(Backend):
    """Scores from a table of tag names, the same for every document, or from a function of the document.

    >>> backend = FixedScores({"cli": 0.9, "rust": 0.6})           # every README: cli, then rust
    >>> backend = FixedScores(lambda doc: {"ai": 1.0} if "model" in doc.text else None)  # None abstains

    Tags missing from the table score 0. ``calls`` records every batch scored.
    """

    name = "fixed"

    def __init__(
        self,
        scores: Union[ScoreTable, Callable[[Document], ScoreTable | None]] | None = None,
        policy: DecisionPolicy | None = None,
        taxonomy: Taxonomy | None = None,
    ):
        self._scores = scores or {}
        self.policy = policy or DecisionPolicy()
        self._taxonomy = taxonomy
        self.calls: list[list[Document]] = []

    @property
    def taxonomy(self) -> Taxonomy:
        return self._taxonomy or Taxonomy.default()

    def score(self, documents: Sequence[Document], taxonomy: Taxonomy) -> list[Scores]:
        self.calls.append(list(documents))
        rows: list[Scores] = []
        for document in documents:
            table: Any = self._scores(document) if callable(self._scores) else self._scores
            if table is None:
                rows.append(None)
                continue
            by_key = {tag_key(name): float(value) for name, value in table.items()}
            rows.append([by_key.get(tag.key, 0.0) for tag in taxonomy])
        return rows
