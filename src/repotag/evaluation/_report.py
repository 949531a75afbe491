"""Evaluation: scores of predicted tag lists against gold, as an evaluator object.

Metrics follow the product's contract: each prediction is an ordered list of
at most N tags. micro-F1 pools every (README, tag) decision; example-F1
averages per-README F1; top-1 hit is the share of READMEs whose first
predicted tag is among the gold tags.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .._taxonomy import tag_key
from ..pipeline._reading import read_json_lines


def _f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@dataclass
class TagStats:
    """Precision, recall and F1 of one tag."""

    tag: str
    support: int
    predicted: int
    precision: float
    recall: float
    f1: float


@dataclass
class EvaluationReport:
    """What :class:`TaggingEvaluator` measured."""

    count: int
    micro_precision: float
    micro_recall: float
    micro_f1: float
    macro_f1: float
    example_f1: float
    top1_hit: float
    per_tag: list[TagStats] = field(default_factory=list)
    confusions: list[tuple[str, str, int]] = field(default_factory=list)
    missing: int = 0
    #: (confidence, correct) of every predicted tag that carried a score.
    scored: list[tuple[float, bool]] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        return {
            "count": self.count,
            "micro_f1": round(self.micro_f1, 4),
            "micro_precision": round(self.micro_precision, 4),
            "micro_recall": round(self.micro_recall, 4),
            "macro_f1": round(self.macro_f1, 4),
            "example_f1": round(self.example_f1, 4),
            "top1_hit": round(self.top1_hit, 4),
        }

    def format(self, top_confusions: int = 10) -> str:
        """A plain-text report: headline metrics, per-tag table, most confused pairs."""
        lines = [
            f"READMEs evaluated: {self.count}" + (f" ({self.missing} without prediction)" if self.missing else ""),
            f"micro-F1   {self.micro_f1:.4f}  (precision {self.micro_precision:.4f}, recall {self.micro_recall:.4f})",
            f"macro-F1   {self.macro_f1:.4f}",
            f"example-F1 {self.example_f1:.4f}",
            f"top-1 hit  {self.top1_hit:.4f}",
            "",
            f"{'tag':<20} {'support':>7} {'pred':>5} {'prec':>6} {'rec':>6} {'f1':>6}",
        ]
        for s in sorted(self.per_tag, key=lambda s: (-s.support, s.tag)):
            lines.append(
                f"{s.tag:<20} {s.support:>7} {s.predicted:>5} {s.precision:>6.3f} {s.recall:>6.3f} {s.f1:>6.3f}"
            )
        if self.confusions:
            lines += ["", "most confused (gold -> predicted instead): count"]
            for gold, predicted, count in self.confusions[:top_confusions]:
                lines.append(f"  {gold} -> {predicted}: {count}")
        return "\n".join(lines)


class TaggingEvaluator:
    """Scores predictions against gold tag lists (keyed by README id).

    >>> evaluator = TaggingEvaluator({"a/b": ["cli", "terminal"]})
    >>> evaluator({"a/b": ["cli"]}).micro_f1
    0.6666666666666666
    """

    def __init__(self, gold: Mapping[Any, Sequence[str]]):
        self.gold = {key: [tag_key(t) for t in tags] for key, tags in gold.items()}

    def __call__(
        self,
        predictions: Mapping[Any, Sequence[str]],
        scores: Mapping[Any, Sequence[float]] | None = None,
    ) -> EvaluationReport:
        tp_total = fp_total = fn_total = 0
        per_tag_counts: dict[str, Counter] = {}
        example_sum = 0.0
        top1 = 0
        missing = 0
        confusions: Counter = Counter()
        scored: list[tuple[float, bool]] = []
        for key, gold_tags in self.gold.items():
            if key not in predictions:
                missing += 1
            predicted = [tag_key(t) for t in predictions.get(key, [])]
            gold_set, predicted_set = set(gold_tags), set(predicted)
            hits = gold_set & predicted_set
            tp_total += len(hits)
            fp_total += len(predicted_set - gold_set)
            fn_total += len(gold_set - predicted_set)
            for tag in gold_set | predicted_set:
                counts = per_tag_counts.setdefault(tag, Counter())
                counts["tp"] += tag in hits
                counts["fp"] += tag in predicted_set and tag not in gold_set
                counts["fn"] += tag in gold_set and tag not in predicted_set
            if gold_set or predicted_set:
                example_sum += 2 * len(hits) / (len(gold_set) + len(predicted_set))
            else:
                example_sum += 1.0
            top1 += bool(predicted) and predicted[0] in gold_set
            for missed in gold_set - predicted_set:
                for wrong in predicted_set - gold_set:
                    confusions[(missed, wrong)] += 1
            if scores is not None and key in scores:
                scored += [(float(s), t in gold_set) for t, s in zip(predicted, scores[key])]
        per_tag = []
        for tag, c in sorted(per_tag_counts.items()):
            precision, recall, f1 = _f1(c["tp"], c["fp"], c["fn"])
            per_tag.append(TagStats(tag, c["tp"] + c["fn"], c["tp"] + c["fp"], precision, recall, f1))
        supported = [s.f1 for s in per_tag if s.support]
        count = len(self.gold)
        precision, recall, f1 = _f1(tp_total, fp_total, fn_total)
        return EvaluationReport(
            count=count,
            micro_precision=precision,
            micro_recall=recall,
            micro_f1=f1,
            macro_f1=sum(supported) / len(supported) if supported else 0.0,
            example_f1=example_sum / count if count else 0.0,
            top1_hit=top1 / count if count else 0.0,
            per_tag=per_tag,
            confusions=[(g, p, n) for (g, p), n in confusions.most_common()],
            missing=missing,
            scored=scored,
        )


def read_tag_lists(path: str | Path) -> tuple[dict[Any, list[str]], dict[Any, list[float]]]:
    """Read a JSONL of ``{"id", "tags"}`` lines; tags may be names or ``{"id", "name"[, "score"]}``.

    Returns tag names and, where every tag carried one, scores, both by id.
    """
    tags: dict[Any, list[str]] = {}
    scores: dict[Any, list[float]] = {}
    for _, row in read_json_lines(path, ("id", "tags")):
        items = row["tags"] or []
        names = [item["name"] if isinstance(item, dict) else item for item in items]
        tags[row["id"]] = [str(n) for n in names]
        if items and all(isinstance(i, dict) and "score" in i for i in items):
            scores[row["id"]] = [float(i["score"]) for i in items]
    return tags, scores


def write_chart(report: EvaluationReport, path: str | Path, bins: int = 10) -> Path:
    """Save a PNG: per-tag F1 bars and a reliability curve of the confidences (needs the ``eval`` extra)."""
    from .._extras import require_extra

    require_extra("eval")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = sorted((s for s in report.per_tag if s.support), key=lambda s: -s.f1)
    figure, (bars, reliability) = plt.subplots(
        1, 2, figsize=(16, max(6, 0.18 * len(stats))), gridspec_kw={"width_ratios": [2, 1]}
    )
    labels = [f"{s.tag} (n={s.support})" for s in stats]  # support beside each tag
    bars.barh(labels, [s.f1 for s in stats], color="#4c72b0")
    for row, s in enumerate(stats):
        # The value is written on every bar, so a tag with F1 0 shows "0.00" instead of looking missing.
        bars.text(s.f1 + 0.01, row, f"{s.f1:.2f}", va="center", fontsize=6, color="#c44e52" if s.f1 == 0 else "black")
    bars.invert_yaxis()
    bars.set_xlim(0, 1.08)
    bars.set_xlabel("F1")
    bars.set_title(f"Per-tag F1 (micro-F1 {report.micro_f1:.3f}, top-1 {report.top1_hit:.3f})")
    bars.tick_params(axis="y", labelsize=7)
    reliability.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    if report.scored:
        edges = [i / bins for i in range(bins + 1)]
        xs, ys, ns = [], [], []
        for low, high in zip(edges, edges[1:]):
            inside = [ok for s, ok in report.scored if low <= s < high or (high == 1 and s == 1)]
            if inside:
                xs.append((low + high) / 2)
                ys.append(sum(inside) / len(inside))
                ns.append(len(inside))
        reliability.plot(xs, ys, marker="o", label="predicted tags")
        for x, y, n in zip(xs, ys, ns):
            # Counts go below points near the top, so they never run into the title.
            offset = (0, -11) if y > 0.9 else (0, 6)
            reliability.annotate(f"n={n}", (x, y), textcoords="offset points", xytext=offset, fontsize=7, ha="center")
    else:
        reliability.text(0.5, 0.5, "no confidences in predictions", ha="center")
    reliability.set_xlim(0, 1.05)
    reliability.set_ylim(0, 1.05)
    reliability.set_xlabel("confidence")
    reliability.set_ylabel("share correct")
    reliability.set_title("Reliability of confidences")
    reliability.legend(loc="upper left")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
