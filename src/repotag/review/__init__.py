"""Review and correct: a local web page where a maintainer checks suggestions, and corrections teach the model.

``repotag review RESULTS.jsonl --readmes INPUT`` serves it on 127.0.0.1 (the ``serve`` extra);
each decision is appended to a labels file in ``repotag train``'s format.
"""

from ._export import EXPORTS, argilla_records, label_studio_tasks
from ._labels import append_decision, format_review_stats, locked_tags, read_decisions, review_stats
from ._session import Item, ReviewSession

__all__ = [
    "EXPORTS", "Item", "ReviewSession", "append_decision", "argilla_records", "format_review_stats",
    "label_studio_tasks", "locked_tags", "read_decisions", "review_stats",
]
