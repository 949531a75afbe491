"""Training: fitting a :class:`TagModel` with cross-validated calibration and thresholds.

Used by ``repotag train`` for a user's labelled READMEs and by
``scripts/build_default_model.py`` for the embedded default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .._errors import InputError, ModelError
from .._extras import require_extra
from .._rules import DecisionPolicy
from .._taxonomy import Taxonomy, tag_key
from ..evaluation._report import EvaluationReport, TaggingEvaluator
from ..model._estimator import Calibration, TagModel
from ..pipeline._features import SentenceEncoder, document_text, repository_name
from ..pipeline._reading import read_json_lines

THRESHOLD_GRID = tuple(round(float(x), 2) for x in np.arange(0.1, 0.71, 0.05))


@dataclass
class LabelledDocument:
    """A training example: the text the model reads and its tag names."""

    id: Any
    text: str
    tags: list[str]
    weight: float = 1.0
    #: Out-of-fold predictions are made (and scored) for documents marked here.
    evaluate: bool = True
    #: Each annotator's own answer, where several labelled the document: the heads learn from
    #: the share of annotators who chose each tag; ``tags`` (the agreed answer) is what is scored.
    annotations: list[list[str]] | None = None


def read_labelled(path: str | Path, taxonomy: Taxonomy,
                  on_skip: Callable[[str], None] | None = None) -> list[LabelledDocument]:
    """Read ``{"id", "readme", "tags"}`` JSONL lines; tags are names (or ``{"name"}`` objects) of ``taxonomy``.

    An optional ``"annotators"`` field (each annotator's own tag list) lets the heads learn how
    many annotators chose each tag. A README with no text is left out (``on_skip`` hears why);
    fields of the wrong type are an :class:`InputError` naming the line.
    """
    documents = []
    for number, row in read_json_lines(path, ("readme", "tags")):
        where = f"{path}:{number}"
        if not isinstance(row["readme"], str):
            raise InputError(f"{where}: 'readme' must be a string")
        if not isinstance(row["tags"], list):
            raise InputError(f"{where}: 'tags' must be a list of tag names")
        if not row["readme"].strip():
            if on_skip:
                on_skip(f"{where}: empty README left out")
            continue
        answers = row.get("annotators")
        if answers is not None and not (isinstance(answers, list) and all(isinstance(a, list) for a in answers)):
            raise InputError(f"{where}: 'annotators' must be a list of tag lists")
        text = document_text(str(row["readme"]), row.get("name") or repository_name(row.get("id")))
        documents.append(LabelledDocument(row.get("id", number), text, _tag_keys(row["tags"], taxonomy, where),
                                          annotations=[_tag_keys(a, taxonomy, where) for a in answers] if answers else None))
    if not documents:
        raise InputError(f"{path}: no labelled READMEs")
    return documents


def _tag_keys(items, taxonomy: Taxonomy, where: str) -> list[str]:
    """Keys of tag names (or ``{"name"}`` objects) of ``taxonomy``; others are an :class:`InputError`."""
    names = []
    for item in items or []:
        name = item.get("name") if isinstance(item, dict) else item
        tag = taxonomy.get(name) if isinstance(name, str) else None
        if tag is None:
            raise InputError(f"{where}: tag {name!r} is not in the taxonomy")
        names.append(tag.key)
    return names


def fit_platt(scores: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """Platt scaling: (a, b) so that sigmoid(a * score + b) matches the targets."""
    from sklearn.linear_model import LogisticRegression

    if targets.min() == targets.max():
        return (1.0, 0.0)
    platt = LogisticRegression(C=1e4, max_iter=1000).fit(scores.reshape(-1, 1), targets)
    return float(platt.coef_[0, 0]), float(platt.intercept_[0])


def predictions_at(
    probabilities: np.ndarray, taxonomy: Taxonomy, max_tags: int, policy: DecisionPolicy, min_score: float = 0.0
) -> tuple[list[list[str]], list[list[float]]]:
    """The tags (keys) and scores ``policy`` gives each row: the very rule the tagger applies."""
    tags, scores = [], []
    for row in probabilities:
        chosen = policy.select(row, taxonomy, max_tags, min_score)
        tags.append([c.tag.key for c in chosen])
        scores.append([c.score for c in chosen])
    return tags, scores


def fold_splits(count: int, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (fit rows, held-out rows) of shuffled K-fold cross-validation: the one place folds are drawn."""
    from sklearn.model_selection import KFold

    return list(KFold(folds, shuffle=True, random_state=seed).split(np.arange(count)))


def best_threshold(
    probabilities: np.ndarray, gold: Sequence[Sequence[str]], taxonomy: Taxonomy, max_tags: int = 3,
    min_top_score: float = 0.0,
) -> float:
    """The threshold of :data:`THRESHOLD_GRID` with the best micro-F1 (ties: the higher one)."""
    evaluator = TaggingEvaluator(dict(enumerate(gold)))
    best = (-1.0, 0.0)
    for threshold in THRESHOLD_GRID:
        policy = DecisionPolicy(threshold, min_top_score=min_top_score)
        predicted, _ = predictions_at(probabilities, taxonomy, max_tags, policy)
        best = max(best, (evaluator(dict(enumerate(predicted))).micro_f1, threshold))
    return best[1]


def tune_tag_thresholds(
    probabilities: np.ndarray,
    gold: Sequence[Sequence[str]],
    taxonomy: Taxonomy,
    threshold: float,
    max_tags: int = 3,
    strength: float = 10.0,
    min_top_score: float = 0.0,
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
    current = {key: threshold for key in keys}

    def score(thresholds: dict[str, float]) -> float:
        policy = DecisionPolicy(threshold, thresholds, min_top_score)
        predicted, _ = predictions_at(probabilities, taxonomy, max_tags, policy)
        return evaluator(dict(enumerate(predicted))).micro_f1

    for key in keys:
        if not support[key]:
            continue
        best = (score(current), -abs(current[key] - threshold), current[key])
        for candidate in THRESHOLD_GRID:
            best = max(best, (score({**current, key: candidate}), -abs(candidate - threshold), candidate))
        weight = support[key] / (support[key] + strength)
        current[key] = round(float(threshold + weight * (best[2] - threshold)), 4)
    return {key: t for key, t in current.items() if t != threshold}


def choose_policy(
    probabilities: np.ndarray, gold: Sequence[Sequence[str]], taxonomy: Taxonomy, max_tags: int, per_tag: bool,
    min_top_score: float = 0.0,
) -> DecisionPolicy:
    """The decision policy that scores best on these out-of-fold predictions."""
    threshold = best_threshold(probabilities, gold, taxonomy, max_tags, min_top_score)
    tuned = tune_tag_thresholds(probabilities, gold, taxonomy, threshold, max_tags, min_top_score=min_top_score) \
        if per_tag else {}
    return DecisionPolicy(threshold, tuned, min_top_score)


def nested_predictions(
    probabilities: np.ndarray,
    gold: Sequence[Sequence[str]],
    ids: Sequence[Any],
    taxonomy: Taxonomy,
    per_tag: bool,
    max_tags: int = 3,
    folds: int = 5,
    seed: int = 1,
    min_top_score: float = 0.0,
    min_score: float = 0.0,
) -> dict[Any, list[str]]:
    """Tags for out-of-fold probabilities, each fold's by the policy chosen on the *other* folds only.

    This removes the optimism of choosing thresholds on the rows they are scored on.
    ``min_score`` is the user's floor (``--min-score``), applied on top of the chosen policy.
    """
    predicted: dict[Any, list[str]] = {}
    for fit_rows, test_rows in fold_splits(len(probabilities), folds, seed):
        policy = choose_policy(probabilities[fit_rows], [gold[i] for i in fit_rows], taxonomy, max_tags, per_tag,
                               min_top_score)
        tags, _ = predictions_at(probabilities[test_rows], taxonomy, max_tags, policy, min_score)
        predicted.update({ids[i]: t for i, t in zip(test_rows, tags)})
    return predicted


def nested_selection_report(
    probabilities: np.ndarray,
    gold: Sequence[Sequence[str]],
    ids: Sequence[Any],
    taxonomy: Taxonomy,
    per_tag: bool,
    max_tags: int = 3,
    folds: int = 5,
    seed: int = 1,
    min_top_score: float = 0.0,
) -> EvaluationReport:
    """The report of :func:`nested_predictions`: the honest score of a set-up."""
    predicted = nested_predictions(probabilities, gold, ids, taxonomy, per_tag, max_tags, folds, seed, min_top_score)
    return TaggingEvaluator(dict(zip(ids, gold)))(predicted)


@dataclass
class TrainingResult:
    """A fitted model and its cross-validated report (``None`` when too few examples)."""

    model: TagModel
    #: Out-of-fold predictions scored with the policy chosen on them (slightly optimistic).
    report: EvaluationReport | None
    oof_probabilities: np.ndarray | None
    #: The same predictions with the policy chosen on other folds only (honest).
    nested_report: EvaluationReport | None = None


@dataclass
class Trainer:
    """Fits a :class:`TagModel` and, with enough examples, cross-validates it first.

    Cross-validation over the documents marked ``evaluate`` gives out-of-fold
    predictions; from them come the calibration, the decision policy and the
    reports. The final model is then fit on every document.
    """

    folds: int = 5
    max_tags: int = 3
    seed: int = 0
    per_tag_thresholds: bool = True
    calibrate_zero_shot: bool = False
    n_jobs: int = 1
    #: Called with a line saying what the trainer is doing (the CLI prints it); ``None``: silent.
    progress: Callable[[str], None] | None = None

    def _say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    def fit(
        self,
        model: TagModel,
        documents: Sequence[LabelledDocument],
        taxonomy: Taxonomy,
        embeddings: np.ndarray | None = None,
        base_probabilities: np.ndarray | None = None,
    ) -> TrainingResult:
        """Cross-validate (with enough documents), then fit ``model`` on all of them.

        ``base_probabilities`` replaces the base model's outputs for ``documents`` (a measurement's
        out-of-fold ones, say); by default they are computed when the model has a base.
        """
        require_extra("train")  # before any work
        texts = [d.text for d in documents]
        labels = [d.tags for d in documents]
        if not any(labels):
            raise ModelError("no document has a tag: nothing to learn")
        if len({frozenset(tags) for tags in labels}) == 1:
            raise ModelError(f"every labelled README has the same tags ({', '.join(labels[0])}): nothing to tell "
                             "apart; add READMEs with other tags")
        weights = np.array([d.weight for d in documents])
        annotations = [d.annotations for d in documents]
        if embeddings is None:
            self._say(f"encoding {len(texts)} READMEs")
            embeddings = model.embed(texts)
        if model.base is not None:
            seen = model.base.trained_on([d.id for d in documents])
            if seen:
                self._say(f"warning: {len(seen)} of {len(documents)} READMEs were training documents of the base model: "
                          "scores of the tags it takes over are in-sample for them")
            if base_probabilities is None:
                self._say(f"scoring {len(texts)} READMEs with the base model")
                base_probabilities = model.base_probabilities(texts, embeddings)
        evaluated = np.array([i for i, d in enumerate(documents) if d.evaluate])
        report = oof = nested = None
        if len(evaluated) >= 2 * self.folds:
            oof = self._out_of_fold(model, texts, labels, weights, embeddings, evaluated, taxonomy, annotations,
                                    base_probabilities)
            gold = [labels[i] for i in evaluated]
            ids = [documents[i].id for i in evaluated]
            model.policy = choose_policy(oof, gold, taxonomy, self.max_tags, self.per_tag_thresholds,
                                         model.policy.min_top_score)
            predicted, scores = predictions_at(oof, taxonomy, self.max_tags, model.policy)
            report = TaggingEvaluator(dict(zip(ids, gold)))(dict(zip(ids, predicted)), dict(zip(ids, scores)))
            # The policy's folds are drawn with another seed than the model's, so they do not coincide.
            nested = nested_selection_report(oof, gold, ids, taxonomy, self.per_tag_thresholds, self.max_tags,
                                             self.folds, self.seed + 1, model.policy.min_top_score)
        self._say(f"fitting the final model on {len(texts)} READMEs")
        model.fit(texts, labels, weights, embeddings, self.n_jobs, annotations, base_probabilities)
        if model.base_tags:
            self._say(f"{len(model.base_tags)} of {len(model.tags)} tags are scored by the base model: " + ", ".join(
                key if key == base_key else f"{key} = {base_key}" for key, base_key in model.base_tags.items()))
        model.remember_training_ids([d.id for d in documents])
        model.card["taxonomy"] = taxonomy.to_list()
        return TrainingResult(model, report, oof, nested)

    def _out_of_fold(self, model, texts, labels, weights, embeddings, evaluated, taxonomy, annotations,
                     base_probabilities=None) -> np.ndarray:
        """Calibrate ``model`` on out-of-fold outputs and return its out-of-fold probabilities."""
        keys = taxonomy.keys
        logits = np.zeros((len(evaluated), len(keys)))
        votes = np.zeros((len(evaluated), len(keys))) if model.params.neighbor_mix > 0 else None
        trained_in_fold = np.zeros((len(evaluated), len(keys)), dtype=bool)
        fold_models = []
        for fold, (_, test_part) in enumerate(fold_splits(len(evaluated), self.folds, self.seed), start=1):
            self._say(f"cross-validation: fold {fold} of {self.folds}")
            held_out = set(evaluated[test_part].tolist())
            keep = np.array([i for i in range(len(texts)) if i not in held_out])
            fold_model = model.unfitted_copy()
            fold_model.fit([texts[i] for i in keep], [labels[i] for i in keep], weights[keep], embeddings[keep],
                           self.n_jobs, [annotations[i] for i in keep],
                           None if base_probabilities is None else base_probabilities[keep])
            fold_models.append((fold_model, test_part))
            rows = evaluated[test_part]
            fold_logits, fold_votes = fold_model.raw_outputs([texts[i] for i in rows], embeddings[rows])
            logits[test_part] = fold_logits
            if votes is not None:
                votes[test_part] = fold_votes
            trained = [keys.index(k) for k in fold_model.trained_tags]
            trained_in_fold[np.ix_(test_part, trained)] = True
        targets = model.targets([labels[i] for i in evaluated])
        tag_texts = [(k, model.describe(k)) for k in keys]
        cosine = model.zero_shot_cosine(embeddings[evaluated], tag_texts)
        heads = fit_platt(logits[trained_in_fold], targets[trained_in_fold])
        zero_shot = fit_platt(cosine.ravel(), targets.ravel()) if self.calibrate_zero_shot else model.calibration.zero_shot
        model.calibration = Calibration(heads, zero_shot)
        # Tags a fold could not train are scored zero-shot, as at prediction time.
        zero = model.calibration.zero_shot_probability(cosine)
        oof = np.where(trained_in_fold, model.head_probability(logits, votes), zero)
        if model.base is not None:  # each fold's base-matched tags are scored by the base, as at prediction time
            for fold_model, test_part in fold_models:
                oof[test_part] = fold_model.with_base(oof[test_part], base_probabilities[evaluated[test_part]], keys)
        return oof


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
    zero_shot: tuple[float, float] | None = None,
    progress: Callable[[str], None] | None = None,
    base: TagModel | None = None,
    base_probabilities: np.ndarray | None = None,
    **params,
) -> TrainingResult:
    """Build a model for ``taxonomy`` with hyper-parameters ``params`` (on ``base``, if given) and train it
    with a :class:`Trainer`."""
    model = TagModel.for_taxonomy(taxonomy, encoder, base, **params)
    if zero_shot is not None:
        model.calibration = Calibration(model.calibration.heads, tuple(zero_shot))
    trainer = Trainer(folds, max_tags, seed, per_tag_thresholds, calibrate_zero_shot, n_jobs, progress)
    return trainer.fit(model, documents, taxonomy, embeddings, base_probabilities)
