"""The model card: written by the library from what a model knows about itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._estimator import TagModel

_METRICS = ("micro_f1", "micro_precision", "micro_recall", "macro_f1", "example_f1", "top1_hit")


def scores_table(scores: dict[str, dict]) -> str:
    """A Markdown table of evaluation summaries, one row per set-up."""
    lines = ["| | READMEs | micro-F1 | precision | recall | macro-F1 | example-F1 | top-1 hit |",
             "|---|---|---|---|---|---|---|---|"]
    for label, summary in scores.items():
        cells = " | ".join(f"{summary.get(m, float('nan')):.3f}" for m in _METRICS)
        lines.append(f"| {label} | {summary.get('count', '')} | {cells} |")
    return "\n".join(lines)


def model_card(model: "TagModel") -> str:
    """The Markdown card of ``model``: task, data, method, scores, limits.

    Facts the library cannot know (where the data came from, known limits) come
    from ``model.card["data"]`` and ``model.card["limits"]``; scores from
    ``model.card["scores"]`` (label -> evaluation summary).
    """
    card, params = model.card, model.params
    taxonomy = card.get("taxonomy")
    name = card.get("name", "repotag model")
    trained = len(model.trained_tags)
    lexical = f" concatenated with word 1-2-gram TF-IDF ({model.lexical.size} terms)" if model.lexical else ""
    neighbours = ""
    if model.memory is not None:
        neighbours = (
            f" Blended {1 - params.neighbor_mix:g}/{params.neighbor_mix:g} with a nearest-neighbour vote: the labels "
            f"of the {params.neighbors} training documents ({len(model.memory)} in memory) whose embeddings are "
            f"closest, weighted by exp({params.neighbor_temperature:g} x cosine) and by the document weight."
        )
    policy = model.policy
    sections = [
        f"# {name}",
        f"**Task**: tag a software repository from its README with at most 3 of "
        f"{len(taxonomy) if taxonomy else len(model.tags)} tags, most relevant first.",
    ]
    if card.get("data"):
        sections.append(f"**Data**: {card['data']}")
    sections.append(
        "**Method**: Chinese text is read as English glosses (software terms, then CC-CEDICT), and dropped from "
        "READMEs under 5% CJK (a language link, a name); the README is "
        "cleaned to its title and descriptive prose (badges, code, tables of contents, "
        "set-up and licence sections dropped; the sentence saying what the project is leads) and prefixed with the "
        f"repository name. Features: the sentence embedding of its first {params.max_tokens} tokens{lexical}. "
        f"One L2 logistic-regression head per tag for the {trained} tags with examples (C={params.regularization:g}), "
        f"Platt-calibrated on out-of-fold predictions (a={model.calibration.heads[0]:.3f}, "
        f"b={model.calibration.heads[1]:.3f}).{neighbours} Tags without examples are scored zero-shot: cosine to the "
        f"tag's name and description, calibrated (a={model.calibration.zero_shot[0]:.2f}, "
        f"b={model.calibration.zero_shot[1]:.2f}). Rules: the most probable tag (if it reaches "
        f"{policy.min_top_score:g}), then any other whose probability reaches its threshold (global "
        f"{policy.threshold:g}; {len(policy.thresholds)} tags have their own, tuned out-of-fold), at most N."
    )
    if model.base_tags:
        renamed = [f"{key} = {base_key} (agreement {model.base_agreement.get(key, 1.0):.2f})"
                   for key, base_key in model.base_tags.items() if key != base_key]
        same = [key for key, base_key in model.base_tags.items() if key == base_key]
        sections.append(
            f"**Built on the default model**: {len(model.base_tags)} tags are scored by the embedded default model's "
            "heads and neighbour vote, which learnt from far more READMEs"
            + (f"; by name: {', '.join(same)}" if same else "")
            + (f"; by agreement of its choices with the labels (F1): {', '.join(renamed)}" if renamed else "") + ".")
    if card.get("scores"):
        sections.append("**Scores** (cross-validated: each README tagged by a model that never saw it; \"nested\": the "
                        "thresholds chosen on other folds only, the honest figure):\n\n" + scores_table(card["scores"]))
    if card.get("reproduce"):
        sections.append(f"**Reproduce**: {card['reproduce']}")
    if card.get("built_in_seconds") is not None:
        sections.append(f"**Build time**: {card['built_in_seconds']:g} s on {card.get('built_on', 'the build machine')}.")
    if card.get("limits"):
        sections.append(f"**Limits**: {card['limits']}")
    return "\n\n".join(sections) + "\n"
