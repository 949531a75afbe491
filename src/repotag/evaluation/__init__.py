"""Scoring predicted tag lists against gold: micro/macro/example-F1, top-1 hit, charts."""

from ._report import EvaluationReport, TaggingEvaluator, TagStats, read_tag_lists, write_chart

__all__ = ["EvaluationReport", "TagStats", "TaggingEvaluator", "read_tag_lists", "write_chart"]
