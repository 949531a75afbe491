"""The backend interface: documents and a taxonomy in, per-tag scores out.

A backend implements one method, :meth:`Backend.score`. Everything else a user
is promised (valid tags only, the limit, order, error records) is the
:class:`~repotag.Tagger`'s job, so every backend gets it for free.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

from .._rules import DecisionPolicy
from .._taxonomy import Taxonomy

if TYPE_CHECKING:
    from .._config import Settings

#: Per-tag scores in taxonomy order, each 0-1, or ``None``: the backend abstains (no tags).
Scores = Optional[Sequence[float]]


class PolicyScores(list):
    """A row of scores that brings its own decision policy.

    A cascade mixes backends whose scores mean different things (calibrated probabilities,
    an LLM's ranks); each row is then decided by the policy of the backend that scored it.
    """

    def __init__(self, scores: Sequence[float], policy: DecisionPolicy):
        super().__init__(scores)
        self.policy = policy


def row_policy(row: Sequence[float], backend: "Backend") -> DecisionPolicy:
    """The policy that decides a row: its own (:class:`PolicyScores`), else its backend's."""
    return getattr(row, "policy", None) or backend.policy


@dataclass(frozen=True)
class Document:
    """A README ready to score: decoded, capped text, its id, and the repository name if known."""

    text: str
    id: Any = None
    name: str | None = None
    #: The most tags the caller will take: a backend that chooses tags itself (an LLM) asks for no more.
    max_tags: int | None = None


class Backend(ABC):
    """Turns documents into per-tag scores. Subclass it and implement :meth:`score`.

    >>> class Keyword(Backend):
    ...     def score(self, documents, taxonomy):
    ...         return [[float(t.key in d.text.lower()) for t in taxonomy] for d in documents]
    """

    #: The name clients see (``/v1/models``, model cards).
    name: str = "backend"
    #: How scores become tags; a calibrated backend ships its own thresholds.
    policy: DecisionPolicy = DecisionPolicy()

    @classmethod
    def load(cls, settings: "Settings", **options: Any) -> "Backend":
        """Build the backend for ``Tagger.load``; ``options`` are the caller's keyword arguments."""
        return cls(**options)

    @property
    def taxonomy(self) -> Taxonomy:
        """The tag list used when the caller gives none."""
        return Taxonomy.default()

    def default_min_score(self, taxonomy: Taxonomy) -> float:
        """The floor under which no tag is given when the caller sets none (0: there is always a tag)."""
        return 0.0

    def stats(self) -> dict[str, float]:
        """Running totals of what the backend did (LLM calls, cache hits, repairs); none by default."""
        return {}

    @abstractmethod
    def score(self, documents: Sequence[Document], taxonomy: Taxonomy) -> Sequence[Scores]:
        """One row of scores per document (taxonomy order), or ``None`` to give that document no tags.

        A :class:`~repotag.RepotagError` in place of a row fails that document alone: it becomes an
        error record in a batch, and is raised when one README is tagged.
        """
