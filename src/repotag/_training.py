"""Training: fitting a :class:`TagModel` with cross-validated calibration and thresholds.

Used by ``repotag train`` for a user's labelled READMEs and by
``scripts/build_default_model.py`` for the embedded default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ._errors import InputError, ModelError
from ._evaluation import EvaluationReport, TaggingEvaluator
from ._features import SentenceEncoder, document_text, repository_name
from ._model import TagModel
from ._reading import read_json_lines
from ._rules import select_tags
from ._taxonomy import Taxonomy, tag_key

THRESHOLD_GRID = tuple(round(x, 2) for x in np.arange(0.1, 0.71, 0.05))


@dataclass
class LabelledDocument:
    """A training example: the text the model reads and its tag names."""

    id: Any
    text: str
    tags: list[str]
    weight: float = 1.0
    #: Out-of-fold predictions are made (and scored) for documents marked here.
    evaluate: bool = True


def read_labelled(path: str | Path, taxonomy: Taxonomy) -> list[LabelledDocument]:
    """Read ``{"id", "readme", "tags"}`` JSONL lines; tags are names (or ``{"name"}`` objects) of ``taxonomy``."""
    documents = []
    for number, row in read_json_lines(path, ("readme", "tags")):
        names = []
        for item in row["tags"] or []:
            name = item.get("name") if isinstance(item, dict) else item
            tag = taxonomy.get(name) if isinstance(name, str) else None
            if tag is None:
                raise InputError(f"{path}:{number}: tag {name!r} is not in the taxonomy")
            names.append(tag.key)
        text = document_text(str(row["readme"]), row.get("name") or repository_name(row.get("id")))
        documents.append(LabelledDocument(row.get("id", number), text, names))
    if not documents:
        raise InputError(f"{path}: no labelled READMEs")
    return documents


def fit_platt(scores: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """Platt scaling: (a, b) so that sigmoid(a * score + b) matches the targets."""
    from sklearn.linear_model import LogisticRegression

    if targets.min() == targets.max():
        return (1.0, 0.0)
    platt = LogisticRegression(C=1e4, max_iter=1000).fit(scores.reshape(-1, 1), targets)
    return float(platt.coef_[0, 0]), float(platt.intercept_[0])


def predictions_at(
    probabilities: np.ndarray, taxonomy: Taxonomy, max_tags: int, threshold: float | Sequence[float]
) -> tuple[list[list[str]], list[list[float]]]:
    tags, scores = [], []
    for row in probabilities:
        chosen = select_tags(row, taxonomy, max_tags, threshold)
        tags.append([c.tag.key for c in chosen])
        scores.append([c.score for c in chosen])
    return tags, scores


def best_threshold(
    probabilities: np.ndarray, gold: Sequence[Sequence[str]], taxonomy: Taxonomy, max_tags: int = 3
) -> float:
    """The threshold of :data:`THRESHOLD_GRID` with the best micro-F1 (ties: the higher one)."""
    evaluator = TaggingEvaluator(dict(enumerate(gold)))
    best = (-1.0, 0.0)
    for threshold in THRESHOLD_GRID:
        predicted, _ = predictions_at(probabilities, taxonomy, max_tags, threshold)
        score = evaluator(dict(enumerate(predicted))).micro_f1
        best = max(best, (score, threshold))
    return best[1]


def tune_tag_thresholds(
    probabilities: np.ndarray,
    gold: Sequence[Sequence[str]],
    taxonomy: Taxonomy,
    threshold: float,
    max_tags: int = 3,
    strength: float = 10.0,
) -> dict[str, float]:
    """Per-tag thresholds, shrunk toward the global one by each tag's support.

    For each tag with gold examples, the grid threshold that maximises micro-F1
    (other tags fixed) is found, then moved toward ``threshold`` in proportion:
    t = g + n / (n + strength) * (t* - g). A tag seen twice barely moves; one
    seen 26 times moves most of the way.
    """
    keys = taxonomy.keys
    evaluator = TaggingEvaluator(dict(enumerate(gold)))
    support = {key: 0 for key in keys}
    for tags in gold:
        for tag in tags:
            support[tag_key(tag)] += 1
    current = [threshold] * len(keys)

    def score(thresholds) -> float:
        predicted, _ = predictions_at(probabilities, taxonomy, max_tags, thresholds)
        return evaluator(dict(enumerate(predicted))).micro_f1

    for j, key in enumerate(keys):
        if not support[key]:
            continue
        best = (score(current), -abs(current[j] - threshold), current[j])
        for candidate in THRESHOLD_GRID:
            trial = current[:j] + [candidate] + current[j + 1:]
            best = max(best, (score(trial), -abs(candidate - threshold), candidate))
        weight = support[key] / (support[key] + strength)
        current[j] = round(threshold + weight * (best[2] - threshold), 4)
    return {key: t for key, t in zip(keys, current) if t != threshold}


def nested_selection_report(
    probabilities: np.ndarray,
    gold: Sequence[Sequence[str]],
    ids: Sequence[Any],
    taxonomy: Taxonomy,
    per_tag: bool,
    max_tags: int = 3,
    folds: int = 5,
    seed: int = 1,
) -> EvaluationReport:
    """Score out-of-fold probabilities with thresholds chosen on the *other* folds only.

    This removes the optimism of choosing thresholds on the rows they are scored on.
    """
    from sklearn.model_selection import KFold

    predicted: dict[Any, list[str]] = {}
    for fit_rows, test_rows in KFold(folds, shuffle=True, random_state=seed).split(probabilities):
        fit_gold = [gold[i] for i in fit_rows]
        threshold = best_threshold(probabilities[fit_rows], fit_gold, taxonomy, max_tags)
        chosen: float | list[float] = threshold
        if per_tag:
            tuned = tune_tag_thresholds(probabilities[fit_rows], fit_gold, taxonomy, threshold, max_tags)
            chosen = [tuned.get(key, threshold) for key in taxonomy.keys]
        tags, _ = predictions_at(probabilities[test_rows], taxonomy, max_tags, chosen)
        predicted.update({ids[i]: t for i, t in zip(test_rows, tags)})
    return TaggingEvaluator(dict(zip(ids, gold)))(predicted)


@dataclass
class TrainingResult:
    """A fitted model and its cross-validated report (``None`` when too few examples)."""

    model: TagModel
    #: Out-of-fold predictions scored with the thresholds chosen on them (slightly optimistic).
    report: EvaluationReport | None
    oof_probabilities: np.ndarray | None
    #: The same predictions with thresholds chosen on other folds only (honest).
    nested_report: EvaluationReport | None = None


def train_model(
    taxonomy: Taxonomy,
    documents: Sequence[LabelledDocument],
    *,
    folds: int = 5,
    max_tags: int = 3,
    n_jobs: int = 1,
    encoder: SentenceEncoder | None = None,
    calibrate_zero_shot: bool = False,
    seed: int = 0,
    embeddings: np.ndarray | None = None,
    per_tag_thresholds: bool = True,
    **params,
) -> TrainingResult:
    """Fit a model; with enough documents, first cross-validate to calibrate and pick the threshold.

    Calibration, the threshold and the report come from out-of-fold predictions
    of the documents marked ``evaluate``; the final model is fit on everything.
    """
    from sklearn.model_selection import KFold

    model = TagModel.for_taxonomy(taxonomy, encoder, **params)
    texts = [d.text for d in documents]
    labels = [d.tags for d in documents]
    weights = np.array([d.weight for d in documents])
    if embeddings is None:
        embeddings = model.embed(texts)
    evaluated = np.array([i for i, d in enumerate(documents) if d.evaluate])
    report = oof = nested = None
    if len(evaluated) >= 2 * folds:
        keys = taxonomy.keys
        logits = np.zeros((len(evaluated), len(keys)))
        votes = np.zeros((len(evaluated), len(keys))) if model.config.neighbor_mix > 0 else None
        trained_in_fold = np.zeros((len(evaluated), len(keys)), dtype=bool)
        for train_part, test_part in KFold(folds, shuffle=True, random_state=seed).split(evaluated):
            held_out = set(evaluated[test_part].tolist())
            keep = np.array([i for i in range(len(documents)) if i not in held_out])
            fold_model = TagModel.for_taxonomy(taxonomy, model.encoder, **params)
            fold_model.fit([texts[i] for i in keep], [labels[i] for i in keep], weights[keep], embeddings[keep], n_jobs)
            rows = evaluated[test_part]
            logits[test_part] = fold_model.trained_logits([texts[i] for i in rows], embeddings[rows])
            if votes is not None:
                votes[test_part] = fold_model.neighbor_votes(embeddings[rows])
            trained = [keys.index(k) for k in fold_model.config.trained_tags]
            trained_in_fold[np.ix_(test_part, trained)] = True
        targets = np.zeros_like(logits, dtype=np.int8)
        for row, i in enumerate(evaluated):
            for tag in labels[i]:
                targets[row, keys.index(tag_key(tag))] = 1
        model.config.calibration = fit_platt(logits[trained_in_fold], targets[trained_in_fold])
        if calibrate_zero_shot:
            cosine = embeddings[evaluated] @ model.tag_embeddings([(k, model.describe(k)) for k in keys]).T
            model.config.zero_shot = fit_platt(cosine.ravel(), targets.ravel())
        heads = model.config.head_probability(logits, votes)
        # Tags a fold could not train are scored zero-shot, as at prediction time.
        zero = model.zero_shot_proba(embeddings[evaluated], [(k, model.describe(k)) for k in keys])
        oof = np.where(trained_in_fold, heads, zero)
        gold = [labels[i] for i in evaluated]
        model.config.threshold = best_threshold(oof, gold, taxonomy, max_tags)
        if per_tag_thresholds:
            model.config.thresholds = tune_tag_thresholds(oof, gold, taxonomy, model.config.threshold, max_tags)
        predicted, scores = predictions_at(oof, taxonomy, max_tags, model.config.thresholds_for(taxonomy.keys))
        ids = [documents[i].id for i in evaluated]
        report = TaggingEvaluator(dict(zip(ids, gold)))(dict(zip(ids, predicted)), dict(zip(ids, scores)))
        nested = nested_selection_report(oof, gold, ids, taxonomy, per_tag_thresholds, max_tags, folds)
    if not any(labels):
        raise ModelError("no document has a tag: nothing to learn")
    model.fit(texts, labels, weights, embeddings, n_jobs)
    model.config.card["taxonomy"] = taxonomy.to_list()
    return TrainingResult(model, report, oof, nested)
