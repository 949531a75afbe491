"""Tagging rules: from per-tag probabilities to the final, valid tag list.

The rules hold whatever the model does: only tags of the taxonomy, each at
most once, at most ``max_tags``, most probable first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ._errors import ConfigError
from ._taxonomy import Tag, Taxonomy


@dataclass(frozen=True)
class ScoredTag:
    """A tag chosen for a README, with the model's confidence in it (0 to 1)."""

    tag: Tag
    score: float

    def to_dict(self, scores: bool = False) -> dict[str, Any]:
        data = self.tag.to_dict()
        if scores:
            data["score"] = round(float(self.score), 4)
        return data


def check_max_tags(max_tags: Any, taxonomy: Taxonomy) -> int:
    """Validate a tag limit against a taxonomy; returns it as an int."""
    if isinstance(max_tags, bool) or not isinstance(max_tags, int):
        raise ConfigError("max_tags must be a whole number")
    if max_tags < 1:
        raise ConfigError("max_tags must be at least 1")
    if max_tags > len(taxonomy):
        shown = max_tags if max_tags < 10**9 else f"{str(max_tags)[:6]}... ({len(str(max_tags))} digits)"
        raise ConfigError(f"max_tags {shown} exceeds the taxonomy size ({len(taxonomy)} tags)")
    return max_tags


def check_min_score(min_score: Any) -> float:
    """Validate a score floor (0 to 1); returns it as a float."""
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float)) or not 0.0 <= min_score <= 1.0:
        raise ConfigError("min_score must be a number between 0 and 1")
    return float(min_score)


def resolve_max_tags(explicit: Any, default: int, taxonomy: Taxonomy) -> int:
    """The limit to apply: an explicit one must fit the taxonomy; the default shrinks to a small one."""
    return min(default, len(taxonomy)) if explicit is None else check_max_tags(explicit, taxonomy)


@dataclass(frozen=True)
class DecisionPolicy:
    """How per-tag scores become a tag list; the same object decides in training and in serving.

    The most probable tag is kept when it reaches ``min_top_score``; each further tag
    when it reaches its own threshold (``thresholds`` by tag key, else ``threshold``).
    """

    threshold: float = 0.5
    thresholds: Mapping[str, float] = field(default_factory=dict)
    min_top_score: float = 0.0

    def thresholds_for(self, keys: Sequence[str]) -> list[float]:
        """The threshold of each tag key, in order."""
        return [self.thresholds.get(key, self.threshold) for key in keys]

    def select(self, scores: Sequence[float], taxonomy: Taxonomy, max_tags: int, min_score: float = 0.0) -> list[ScoredTag]:
        """The tags to give for one row of scores (taxonomy order); none scoring under ``min_score``."""
        return select_tags(scores, taxonomy, max_tags, self.thresholds_for(taxonomy.keys), self.min_top_score, min_score)

    def to_json(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "thresholds": dict(self.thresholds), "min_top_score": self.min_top_score}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "DecisionPolicy":
        return cls(float(data.get("threshold", 0.5)), dict(data.get("thresholds", {})),
                   float(data.get("min_top_score", 0.0)))


def select_tags(
    scores: Sequence[float],
    taxonomy: Taxonomy,
    max_tags: int,
    threshold: float | Sequence[float],
    min_top_score: float = 0.0,
    min_score: float = 0.0,
) -> list[ScoredTag]:
    """Choose tags: the most probable one, then others whose score reaches their threshold.

    ``scores`` follows the taxonomy's order; ``threshold`` is one number or one per tag.
    No tag scoring under ``min_score`` is given: the list may be empty ("none fits").
    Ties keep taxonomy order.
    """
    if len(scores) != len(taxonomy):
        raise ValueError("one score per taxonomy tag is required")
    if isinstance(threshold, (int, float)):
        threshold = [threshold] * len(taxonomy)
    ranked = sorted(range(len(taxonomy)), key=lambda i: (-float(scores[i]), i))
    if not ranked or float(scores[ranked[0]]) < max(min_top_score, min_score):
        return []
    chosen = [ScoredTag(taxonomy[ranked[0]], float(scores[ranked[0]]))]
    for index in ranked[1:]:
        if len(chosen) >= max_tags:
            break
        if float(scores[index]) >= max(threshold[index], min_score):
            chosen.append(ScoredTag(taxonomy[index], float(scores[index])))
    return chosen
