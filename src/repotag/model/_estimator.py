"""The tag model: an estimator with ``fit`` / ``predict_proba`` / ``save`` / ``load``.

One logistic head per tag over [sentence embedding * weight | TF-IDF]. Tags
with no training example fall back to zero-shot: the cosine between the
document embedding and the tag's name and description, mapped to a
probability by a calibrated sigmoid. Probabilities of trained tags are
calibrated by Platt scaling on out-of-fold predictions.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._errors import ModelError
from .._extras import require_extra
from .._rules import DecisionPolicy
from .._taxonomy import Taxonomy, tag_key
from ..pipeline._features import DEFAULT_MAX_TOKENS, LexicalFeatures, SentenceEncoder

FORMAT_VERSION = 2
#: Tag texts whose embeddings are kept between requests (each 1.5 KB).
TAG_CACHE_SIZE = 4_096
BUNDLED_ENCODER = "bundled"
#: The only base model a saved model can name: the embedded default.
BUNDLED_BASE = "bundled"
#: A user's tag far in meaning from every base tag (under MIN_MEANING_COSINE) is read as the base tag whose
#: choices agree with its labels at least this well (F1 over the labelled READMEs), on at least this many
#: examples (one game-server README would make "self-hosted server software" the base's "game").
MIN_BASE_AGREEMENT = 0.5
MIN_AGREEMENT_EXAMPLES = 3
#: A user's tag can be read as a base tag this close in meaning (cosine of the name and description embeddings).
#: The 90 default tags under other names (scripts/data/renamed_tags.json): 89 reach 0.5, 88 of them with their
#: own tag closest. Agreement alone does worse: the base's choices agree with a tag no better than the base
#: predicts it (lib: F1 0.38).
MIN_MEANING_COSINE = 0.5
#: ... unless the tag has enough labels and the base's scores rank them no better than this ROC AUC (0.5 is
#: chance). Scores, not choices: the base seldom *chooses* some tags it ranks well (cloud-native: chosen for 0 of
#: 4 "cloud infrastructure" READMEs in a fold, AUC 0.95). Each renamed default tag with 3+ dev labels ranks its
#: own READMEs at AUC 0.82 or more in every fold.
MIN_MEANING_AUC = 0.7
#: Less close than MIN_MEANING_COSINE but at least this close, a match needs the labels to confirm it: the base
#: tag's scores rank the tag's labelled READMEs (one is enough; none gives AUC 0.5) at this ROC AUC or more.
#: "developer experience helpers" sits 0.47 from dev-exp-lib, whose scores rank its 2 READMEs at AUC 1.0; a new
#: tag's own head from 2 READMEs does worse.
MIN_CONFIRMED_MEANING_COSINE = 0.4
MIN_CONFIRMING_AUC = 0.9


def bundled_model_dir() -> Path:
    """Directory of the embedded default model inside the installed package."""
    return Path(str(resources.files("repotag").joinpath("models").joinpath("default")))


def ranking_auc(positives: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of each score column for each label column (labels x score columns; 0.5 where a label is constant)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores, axis=0)  # ties share their mean rank
    count = positives.sum(0)[:, None].astype(float)
    pairs = count * (len(positives) - count)
    rank_sum = positives.T.astype(float) @ ranks
    return np.where(pairs > 0, (rank_sum - count * (count + 1) / 2) / np.maximum(pairs, 1), 0.5)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


@dataclass(frozen=True)
class ModelParams:
    """Hyper-parameters of a :class:`TagModel`: set before training, never changed by it."""

    embedding_weight: float = 1.0
    regularization: float = 4.0
    #: TF-IDF vocabulary size; 0 uses the sentence embedding alone.
    max_features: int = 30_000
    max_tokens: int = DEFAULT_MAX_TOKENS
    #: Nearest-neighbour vote over the training documents, blended with the heads:
    #: p = (1 - mix) * p_head + mix * vote; mix 0 turns it off.
    neighbors: int = 10
    #: Sharpness of the vote's weights, exp(temperature x cosine). 20 suits the fine-tuned encoder, whose
    #: cosines spread wider than the plain MiniLM's (nested dev micro-F1 +0.02 over 10 on three fold seeds).
    neighbor_temperature: float = 20.0
    neighbor_mix: float = 0.5
    #: For a tag matched to a base model tag: p = (1 - blend) * p_base + blend * p_own head (0: the base alone).
    base_blend: float = 0.0

    @classmethod
    def from_json(cls, data: dict) -> "ModelParams":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Calibration:
    """Maps raw outputs to probabilities: Platt scaling of the heads, and of zero-shot cosines."""

    #: Trained heads: p = sigmoid(a * logit + b).
    heads: tuple[float, float] = (1.0, 0.0)
    #: Zero-shot: p = sigmoid(a * cosine + b).
    zero_shot: tuple[float, float] = (12.0, -5.0)

    def head_probability(self, logits: np.ndarray, votes: np.ndarray | None, neighbor_mix: float) -> np.ndarray:
        """Calibrated head outputs, blended with the neighbour vote when there is one."""
        a, b = self.heads
        proba = _sigmoid(a * logits + b)
        if votes is None or neighbor_mix <= 0:
            return proba
        return (1 - neighbor_mix) * proba + neighbor_mix * votes

    def zero_shot_probability(self, cosine: np.ndarray) -> np.ndarray:
        slope, offset = self.zero_shot
        return _sigmoid(slope * cosine + offset)


class TagModel:
    """Multi-label tag classifier for one tag list, with zero-shot fallback.

    Follows scikit-learn's convention: ``__init__`` stores the tag list and the
    hyper-parameters; :meth:`fit` sets the learned state (heads, TF-IDF, the
    neighbour memory). ``calibration`` and ``policy`` are set by the
    :class:`~repotag.training.Trainer` from out-of-fold predictions.

    With a ``base`` model (the embedded default), :meth:`fit` also learns which
    of its tags the base already knows under another name (``base_tags``:
    the same key, or a base tag whose choices agree with the labels); those
    tags are scored by the base, whose heads learnt from far more READMEs.
    """

    def __init__(
        self,
        tags: Sequence[str],
        descriptions: dict[str, str] | None = None,
        params: ModelParams | None = None,
        encoder: SentenceEncoder | None = None,
        base: "TagModel | None" = None,
    ):
        self.tags = list(tags)
        self.descriptions = dict(descriptions or {})
        self.params = params or ModelParams()
        self.encoder = encoder or SentenceEncoder(bundled_model_dir() / "encoder", max_tokens=self.params.max_tokens)
        #: Where the encoder lives, relative to the model directory (or the bundled one).
        self.encoder_name = BUNDLED_ENCODER
        self.base = base
        #: Whether this is the embedded default as loaded from the package (the only base a saved model can name).
        self.is_bundled = False
        self.calibration = Calibration()
        self.policy = DecisionPolicy(threshold=0.3)
        #: Free-form facts about the model (taxonomy, training data, scores); written to the model card.
        self.card: dict = {}
        # Learned state, set by fit() or load().
        self.trained_tags: list[str] = []
        self.lexical: LexicalFeatures | None = None
        self.coef: np.ndarray | None = None  # (tags, features)
        self.intercept: np.ndarray | None = None
        # Training documents for the neighbour vote: unit embeddings, 0/1 labels, weights.
        self.memory: np.ndarray | None = None
        self.memory_labels: np.ndarray | None = None
        self.memory_weights: np.ndarray | None = None
        #: Hashes of the training documents' ids (set by the trainer), so evaluation can tell in-sample scores.
        self.training_ids: np.ndarray | None = None
        #: Tag key -> the base model's tag key that scores it, and how well the two agreed on the labels.
        self.base_tags: dict[str, str] = {}
        self.base_agreement: dict[str, float] = {}
        self._tag_embeddings: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    @classmethod
    def for_taxonomy(cls, taxonomy: Taxonomy, encoder: SentenceEncoder | None = None, base: "TagModel | None" = None,
                     **params) -> "TagModel":
        """An untrained model for ``taxonomy`` (zero-shot until :meth:`fit`), built on ``base`` if given."""
        descriptions = {t.key: t.description for t in taxonomy if t.description}
        return cls(taxonomy.keys, descriptions, ModelParams(**params), encoder, base)

    def unfitted_copy(self) -> "TagModel":
        """A new, untrained model of the same class, tags, hyper-parameters, encoder and base (for a CV fold)."""
        return type(self)(self.tags, self.descriptions, self.params, self.encoder, self.base)

    def base_probabilities(self, documents: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
        """The base model's probabilities of its own tags (documents x base tags)."""
        return self.base.predict_proba(documents, embeddings=embeddings)

    def match_base_tags(self, targets: np.ndarray, base_probabilities: np.ndarray) -> None:
        """Learn ``base_tags``: a tag of the base's by the same key; else one of the base tags close enough in
        meaning, each to one tag, closest overall, unless its scores do not rank this tag's labelled READMEs
        first; else, for a tag close to none in meaning, the base tag whose choices (its own decision policy, at
        most 3 tags) agree best with this tag's labels, if well enough."""
        base = self.base
        chosen = np.zeros(base_probabilities.shape, dtype=bool)
        base_taxonomy = Taxonomy.from_json(base.tags)
        for row, scores in enumerate(base_probabilities):
            for tag in base.policy.select(scores, base_taxonomy, min(3, len(base.tags))):
                chosen[row, base.tags.index(tag.tag.key)] = True
        positives = targets.astype(bool)
        overlap = positives.T.astype(np.float32) @ chosen.astype(np.float32)  # (tags, base tags)
        agreement = 2 * overlap / np.maximum(positives.sum(0)[:, None] + chosen.sum(0)[None, :], 1)
        meaning = self.tag_embeddings([(k, self.describe(k)) for k in self.tags]) @ \
            base.tag_embeddings([(k, base.describe(k)) for k in base.tags]).T
        matches = {j: base.tags.index(key) for j, key in enumerate(self.tags) if key in base.trained_tags}
        # Base tags close in meaning, one each, closest overall ("declarative UI framework" and "GUI toolkit" both
        # sit near gui and declarative-gui: they must not both become gui). Labels only veto: agreement as a score
        # varies with the few READMEs of a tag (measured: it moved "mobile application" to desktop-app in 2 folds
        # of 5), meaning does not.
        from scipy.optimize import linear_sum_assignment

        auc = ranking_auc(positives, base_probabilities)
        judged = positives.sum(0)[:, None] >= MIN_AGREEMENT_EXAMPLES  # enough labels to veto a meaning match
        confirmed = (meaning >= MIN_CONFIRMED_MEANING_COSINE) & (auc >= MIN_CONFIRMING_AUC)
        plausible = ((meaning >= MIN_MEANING_COSINE) & ~(judged & (auc < MIN_MEANING_AUC))) | confirmed
        fit = np.where(plausible, meaning, -np.inf)
        fit[list(matches)] = -np.inf
        fit[:, list(matches.values())] = -np.inf
        rows = np.flatnonzero(np.isfinite(fit).any(axis=1))
        if len(rows):
            columns = np.flatnonzero(np.isfinite(fit).any(axis=0))
            cost = np.where(np.isfinite(fit[np.ix_(rows, columns)]), -fit[np.ix_(rows, columns)], 1e6)
            for r, c in zip(*linear_sum_assignment(cost)):
                if cost[r, c] < 1e6:
                    matches[int(rows[r])] = int(columns[c])
        # Agreement alone names the base tag only for a tag close in meaning to none: where the closest ones were
        # vetoed or taken, a few labels agreeing with a third tag are chance (3 "mobile application" READMEs the
        # base calls gui made it gui in 2 folds of 5), and the user's own head is the safer reading.
        remote = meaning.max(axis=1) < MIN_MEANING_COSINE
        for j in range(len(self.tags)):
            if j not in matches and remote[j] and positives[:, j].sum() >= MIN_AGREEMENT_EXAMPLES \
                    and agreement[j].max() >= MIN_BASE_AGREEMENT:
                matches[j] = int(agreement[j].argmax())
        self.base_tags = {self.tags[j]: base.tags[b] for j, b in sorted(matches.items())}
        self.base_agreement = {self.tags[j]: round(float(agreement[j, b]), 4) for j, b in sorted(matches.items())}

    def with_base(self, own: np.ndarray, base_probabilities: np.ndarray, keys: Sequence[str]) -> np.ndarray:
        """``own`` probabilities (columns ``keys``) with each base-matched tag's column taken from the base."""
        blend = self.params.base_blend
        result = own.copy()
        for column, key in enumerate(keys):
            if key in self.base_tags:
                base_column = base_probabilities[:, self.base.tags.index(self.base_tags[key])]
                blended = blend > 0 and key in self.trained_tags
                result[:, column] = (1 - blend) * base_column + blend * own[:, column] if blended else base_column
        return result

    @property
    def is_trained(self) -> bool:
        return self.coef is not None

    @property
    def known_tags(self) -> set[str]:
        """Tags scored by a trained head, this model's or its base's (the others are zero-shot)."""
        return set(self.trained_tags) | set(self.base_tags)

    # ---- features -----------------------------------------------------
    def embed(self, documents: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(documents)

    def _design(self, embeddings: np.ndarray, documents: Sequence[str]):
        from scipy.sparse import csr_matrix, hstack

        dense = csr_matrix(embeddings * self.params.embedding_weight)
        if self.lexical is None:  # max_features=0: embedding only
            return dense
        return hstack([dense, self.lexical.transform(documents)], format="csr")

    def tag_embeddings(self, tags: Sequence[tuple[str, str]]) -> np.ndarray:
        """Unit vectors for (key, text) pairs describing tags; the most recently used are cached by text."""
        cache = self._tag_embeddings
        with self._cache_lock:  # the service tags in several threads
            vectors = {text: cache[text] for _, text in tags if text in cache}
        missing = list(dict.fromkeys(text for _, text in tags if text not in vectors))
        if missing:
            vectors.update(zip(missing, self.encoder.encode(missing)))
        with self._cache_lock:
            for text, vector in vectors.items():
                cache[text] = vector
                cache.move_to_end(text)
            while len(cache) > TAG_CACHE_SIZE:  # bounded: request taxonomies are unbounded over time
                cache.popitem(last=False)
        return np.stack([vectors[text] for _, text in tags])

    def describe(self, key: str, name: str | None = None, description: str = "") -> str:
        """The text a tag is embedded as for zero-shot scoring."""
        description = description or self.descriptions.get(key, "")
        label = (name or key).strip()
        return f"{label}: {description}" if description else label

    def targets(self, labels: Sequence[Sequence[str]]) -> np.ndarray:
        """0/1 matrix (documents x tags) of tag names; names outside the tag list raise."""
        index = {key: i for i, key in enumerate(self.tags)}
        targets = np.zeros((len(labels), len(self.tags)), dtype=np.int8)
        for row, names in enumerate(labels):
            for name in names:
                key = tag_key(name)
                if key not in index:
                    raise ModelError(f"label {name!r} is not in the tag list")
                targets[row, index[key]] = 1
        return targets

    def annotator_shares(
        self, targets: np.ndarray, annotations: Sequence[Sequence[Sequence[str]] | None] | None
    ) -> np.ndarray:
        """Per document and tag, the share of annotators who chose the tag (``targets`` where there is one answer)."""
        shares = targets.astype(np.float32)
        if annotations is None:
            return shares
        if len(annotations) != len(targets):
            raise ModelError("documents and annotations differ in length")
        for row, answers in enumerate(annotations):
            if answers:
                shares[row] = self.targets(answers).mean(axis=0)
        return shares

    # ---- fitting ------------------------------------------------------
    def fit(
        self,
        documents: Sequence[str],
        labels: Sequence[Sequence[str]],
        sample_weight: Sequence[float] | None = None,
        embeddings: np.ndarray | None = None,
        n_jobs: int = 1,
        annotations: Sequence[Sequence[Sequence[str]] | None] | None = None,
        base_probabilities: np.ndarray | None = None,
    ) -> "TagModel":
        """Train one head per tag that has at least one positive example.

        ``labels`` holds tag names per document; names outside the tag list raise.
        ``annotations``, where given, holds each annotator's own answer per document
        (``None`` for documents with one answer): the heads then learn from the share
        of annotators who chose each tag, while ``labels`` (the agreed tags) fill the
        neighbour memory. With a base model, ``base_probabilities`` (its outputs for
        ``documents``; computed when not given) decide which tags it scores.
        """
        require_extra("train")
        from joblib import Parallel, delayed

        if len(documents) != len(labels):
            raise ModelError("documents and labels differ in length")
        if not len(documents):
            raise ModelError("no training documents")
        targets = self.targets(labels)
        shares = self.annotator_shares(targets, annotations)
        if embeddings is None:
            embeddings = self.embed(documents)
        max_features = self.params.max_features
        self.lexical = LexicalFeatures(max_features).fit(documents) if max_features else None
        design = self._design(embeddings, documents)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        trained = [j for j in range(len(self.tags)) if shares[:, j].max() > 0 and shares[:, j].min() < 1]
        heads = Parallel(n_jobs=n_jobs)(
            delayed(_fit_head)(design, shares[:, j], weights, self.params.regularization) for j in trained
        )
        self.coef = np.zeros((len(self.tags), design.shape[1]), dtype=np.float32)
        self.intercept = np.full(len(self.tags), -30.0, dtype=np.float32)
        for j, (coef, intercept) in zip(trained, heads):
            self.coef[j], self.intercept[j] = coef, intercept
        # A tag on every training document has no counter-example to learn from: it is always given.
        always = [j for j in range(len(self.tags)) if shares[:, j].min() >= 1]
        self.intercept[always] = 30.0
        self.trained_tags = [self.tags[j] for j in sorted(trained + always)]
        if self.base is not None:
            if base_probabilities is None:
                base_probabilities = self.base_probabilities(documents, embeddings)
            self.match_base_tags(targets, base_probabilities)
        if self.params.neighbor_mix > 0:
            self.memory = np.asarray(embeddings, dtype=np.float32)
            self.memory_labels = targets.astype(np.uint8)
            self.memory_weights = np.ones(len(documents), np.float32) if weights is None else weights.astype(np.float32)
        return self

    # ---- prediction ---------------------------------------------------
    def raw_outputs(self, documents: Sequence[str], embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Uncalibrated head logits for every model tag, and the neighbour votes (``None`` without memory).

        Untrained tags get a large negative logit. The trainer calibrates on these.
        """
        # The design matrix [embedding * weight | TF-IDF] times the heads, without building it:
        # no scipy at prediction time.
        dimension = embeddings.shape[1]
        logits = (embeddings * self.params.embedding_weight) @ self.coef[:, :dimension].T + self.intercept
        if self.lexical is not None:
            lexical_heads = self.coef[:, dimension:].T  # (terms, tags)
            for row, (indices, values) in enumerate(self.lexical.transform_rows(documents)):
                logits[row] += values @ lexical_heads[indices]
        votes = self.neighbor_votes(embeddings) if self.memory is not None else None
        return logits, votes

    def neighbor_votes(self, embeddings: np.ndarray) -> np.ndarray:
        """Each tag's share of the weighted vote of the nearest training documents."""
        k = min(self.params.neighbors, len(self.memory))
        similarity = embeddings @ self.memory.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        near_similarity = np.take_along_axis(similarity, nearest, axis=1)
        weight = np.exp(self.params.neighbor_temperature * near_similarity) * self.memory_weights[nearest]
        votes = np.einsum("nk,nkt->nt", weight, self.memory_labels[nearest].astype(np.float32))
        return votes / weight.sum(axis=1, keepdims=True)

    def head_probability(self, logits: np.ndarray, votes: np.ndarray | None) -> np.ndarray:
        """Calibrated probabilities from :meth:`raw_outputs` (one place, for training and serving)."""
        return self.calibration.head_probability(logits, votes, self.params.neighbor_mix)

    def zero_shot_cosine(self, embeddings: np.ndarray, tag_texts: Sequence[tuple[str, str]]) -> np.ndarray:
        return embeddings @ self.tag_embeddings(tag_texts).T

    def zero_shot_proba(self, embeddings: np.ndarray, tag_texts: Sequence[tuple[str, str]]) -> np.ndarray:
        return self.calibration.zero_shot_probability(self.zero_shot_cosine(embeddings, tag_texts))

    def predict_proba(
        self,
        documents: Sequence[str],
        taxonomy: Taxonomy | None = None,
        embeddings: np.ndarray | None = None,
    ) -> np.ndarray:
        """Calibrated probability of each tag (columns follow ``taxonomy``, or the model's tags).

        A taxonomy tag the model was trained on uses its head; any other tag is zero-shot.
        """
        if embeddings is None:
            embeddings = self.embed(documents)
        keys = self.tags if taxonomy is None else taxonomy.keys
        names = dict(zip(keys, keys)) if taxonomy is None else {t.key: t.name for t in taxonomy}
        custom = {} if taxonomy is None else {t.key: t.description for t in taxonomy}
        result = np.zeros((len(documents), len(keys)), dtype=np.float32)
        trained = set(self.trained_tags) if self.is_trained else set()
        head_columns = [(c, self.tags.index(k)) for c, k in enumerate(keys) if k in trained]
        if head_columns:
            proba = self.head_probability(*self.raw_outputs(documents, embeddings))
            for column, head in head_columns:
                result[:, column] = proba[:, head]
        zero_columns = [c for c, k in enumerate(keys) if k not in trained and k not in self.base_tags]
        if zero_columns:
            texts = [(keys[c], self.describe(keys[c], names[keys[c]], custom.get(keys[c], ""))) for c in zero_columns]
            result[:, zero_columns] = self.zero_shot_proba(embeddings, texts)
        if any(k in self.base_tags for k in keys):
            result = self.with_base(result, self.base_probabilities(documents, embeddings), keys)
        return result

    def remember(self, embeddings: np.ndarray, labels: Sequence[Sequence[str]], weight: float | None = None) -> None:
        """Add labelled documents to the neighbour memory (in this process only): they vote from now on.

        ``weight`` defaults to the heaviest weight already in memory: a person's label counts at least
        as much as any training document's.
        """
        if self.memory is None:
            return  # a model without neighbour vote has nothing to add to
        targets = self.targets(labels).astype(np.uint8)
        weight = float(self.memory_weights.max()) if weight is None else weight
        self.memory = np.vstack([self.memory, np.asarray(embeddings, dtype=np.float32)])
        self.memory_labels = np.vstack([self.memory_labels, targets])
        self.memory_weights = np.concatenate([self.memory_weights, np.full(len(targets), weight, np.float32)])

    def phrases(self, document: str, keys: Sequence[str], top: int = 3) -> dict[str, list[str]]:
        """The words and word pairs of ``document`` that most raise each tag's head (by tag key)."""
        if self.lexical is None or not self.is_trained:
            return {key: [] for key in keys}
        (indices, values), = self.lexical.transform_rows([document])
        dimension = self.coef.shape[1] - self.lexical.size
        index = {key: j for j, key in enumerate(self.tags)}
        found = {}
        for key in keys:
            if key not in index or not len(indices):
                found[key] = []
                continue
            contribution = values * self.coef[index[key], dimension + indices]
            best = [i for i in np.argsort(-contribution)[:top] if contribution[i] > 0]
            found[key] = self.lexical.terms(indices[best])
        return found

    def remember_training_ids(self, ids: Sequence[Any]) -> None:
        """Keep hashes of the ids this model was trained on (8 bytes each; the ids themselves are not stored)."""
        self.training_ids = np.unique(np.array([_id_hash(i) for i in ids], dtype=np.uint64))

    def trained_on(self, ids: Sequence[Any]) -> list[Any]:
        """The ids among ``ids`` that were training documents of this model (empty if unknown)."""
        if self.training_ids is None:
            return []
        hashes = np.array([_id_hash(i) for i in ids], dtype=np.uint64)
        return [i for i, seen in zip(ids, np.isin(hashes, self.training_ids)) if seen]

    # ---- persistence --------------------------------------------------
    def to_json(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "tags": self.tags,
            "descriptions": self.descriptions,
            "params": asdict(self.params),
            "calibration": {"heads": list(self.calibration.heads), "zero_shot": list(self.calibration.zero_shot)},
            "policy": self.policy.to_json(),
            "encoder": self.encoder_name,
            "trained_tags": self.trained_tags,
            "base": BUNDLED_BASE if self.base is not None else None,
            "base_tags": self.base_tags,
            "base_agreement": self.base_agreement,
            "card": self.card,
        }

    def save(self, directory: str | Path, card: str | None = None) -> Path:
        """Write ``model.json``, ``weights.npz`` and ``MODEL_CARD.md`` (nothing executable) to ``directory``.

        ``card`` replaces the model card the library writes from what the model knows.
        """
        from ._card import model_card

        if self.base is not None and not self.base.is_bundled:
            raise ModelError("a model built on another base than the embedded default cannot be saved")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = self.to_json()
        arrays = {}
        if self.is_trained:
            arrays = {"coef": self.coef.astype(np.float16), "intercept": self.intercept}
            if self.memory is not None:
                arrays.update(memory=self.memory.astype(np.float16), memory_labels=self.memory_labels,
                              memory_weights=self.memory_weights)
            if self.lexical is not None:
                config["lexical"], arrays["idf"] = self.lexical.state()
        if self.training_ids is not None:
            arrays["training_ids"] = self.training_ids
        (directory / "model.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
        # Uncompressed: float16 weights barely compress (14 vs 12 MB), and inflating them cost a quarter
        # of a second at every start-up.
        np.savez(directory / "weights.npz", **arrays)
        (directory / "MODEL_CARD.md").write_text(card if card is not None else model_card(self), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path | None = None, threads: int = 0, spinning: bool = False) -> "TagModel":
        """Load a saved model; ``None`` is the embedded default."""
        directory = bundled_model_dir() if directory is None else Path(directory)
        config_path = directory / "model.json"
        if not config_path.is_file():
            raise ModelError(f"not a repotag model directory (no model.json): {directory}")
        try:
            return cls._load(directory, threads, spinning)
        except ModelError:
            raise
        except Exception as exc:  # a damaged file fails in many ways (zip, npy, JSON, shapes)
            raise ModelError(f"model in {directory} is damaged or unreadable: "
                             f"{type(exc).__name__}: {str(exc)[:200]}") from None

    @classmethod
    def _load(cls, directory: Path, threads: int, spinning: bool, encoder: SentenceEncoder | None = None) -> "TagModel":
        data = json.loads((directory / "model.json").read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ModelError(f"model in {directory} is damaged: model.json is not an object")
        data = _upgrade(data)
        params = ModelParams.from_json(data["params"])
        with np.load(directory / "weights.npz", allow_pickle=False) as archive:
            weights = {name: archive[name] for name in archive.files}  # reads (and checks) every array now
        encoder_dir = bundled_model_dir() / "encoder" if data["encoder"] == BUNDLED_ENCODER else directory / data["encoder"]
        if encoder is None or encoder.directory != encoder_dir or encoder.max_tokens != params.max_tokens:
            if not (encoder_dir / "model.onnx").is_file():
                raise ModelError(f"model encoder not found in {encoder_dir}")
            encoder = SentenceEncoder(encoder_dir, params.max_tokens, threads, spinning)
        base = None
        if data.get("base") == BUNDLED_BASE:  # the default, sharing this model's encoder (one session, one embedding)
            base = cls._load(bundled_model_dir(), threads, spinning, encoder)
        elif data.get("base") is not None:
            raise ModelError(f"model in {directory} names an unknown base model {data['base']!r}")
        model = cls(data["tags"], data.get("descriptions"), params, encoder, base)
        model.encoder_name = data["encoder"]
        model.calibration = Calibration(tuple(data["calibration"]["heads"]), tuple(data["calibration"]["zero_shot"]))
        model.policy = DecisionPolicy.from_json(data["policy"])
        model.trained_tags = list(data.get("trained_tags", []))
        model.base_tags = dict(data.get("base_tags") or {}) if base is not None else {}
        model.base_agreement = dict(data.get("base_agreement") or {}) if base is not None else {}
        model.card = dict(data.get("card", {}))
        model.training_ids = weights.get("training_ids")
        if "coef" in weights:
            model.coef = weights["coef"].astype(np.float32)
            model.intercept = weights["intercept"].astype(np.float32)
            if "memory" in weights:
                model.memory = weights["memory"].astype(np.float32)
                model.memory_labels = weights["memory_labels"]
                model.memory_weights = weights["memory_weights"].astype(np.float32)
            if "lexical" in data:
                model.lexical = LexicalFeatures.from_state(data["lexical"], weights["idf"])
        model._check_shapes(directory)
        model.is_bundled = directory.resolve() == bundled_model_dir().resolve()
        return model

    def _check_shapes(self, directory: Path) -> None:
        """Arrays that fit together, or a :class:`ModelError` (a damaged model must not tag)."""
        if not self.is_trained:
            return
        terms = self.lexical.size if self.lexical is not None else 0
        tags = len(self.tags)
        expected = {"coef": (self.coef.shape[0], tags), "intercept": (self.intercept.shape, (tags,))}
        if self.lexical is not None:
            expected["idf"] = (self.lexical.idf_size, terms)
        if self.memory is not None:
            expected["memory_labels"] = (self.memory_labels.shape, (len(self.memory), tags))
            expected["memory_weights"] = (self.memory_weights.shape, (len(self.memory),))
            expected["memory width"] = (self.memory.shape[1] + terms, self.coef.shape[1])
        problems = [name for name, (found, wanted) in expected.items() if found != wanted]
        unknown = (set(self.trained_tags) | set(self.base_tags)) - set(self.tags)
        if self.base is not None and set(self.base_tags.values()) - set(self.base.tags):
            problems.append("base_tags")
        if problems or unknown:
            raise ModelError(f"model in {directory} is damaged: arrays do not fit together ({', '.join(problems) or 'tags'})")


def _upgrade(data: dict) -> dict:
    """A ``model.json`` of any supported version, in the current layout (version 1 was flat)."""
    version = data.get("format_version")
    if version == FORMAT_VERSION:
        return data
    if version != 1:
        raise ModelError(f"unsupported model format version {version!r}")
    upgraded = {k: data[k] for k in ("tags", "descriptions", "encoder", "trained_tags", "card", "lexical") if k in data}
    upgraded["params"] = {k: data[k] for k in ModelParams.__dataclass_fields__ if k in data}
    upgraded["calibration"] = {"heads": data.get("calibration", [1.0, 0.0]), "zero_shot": data.get("zero_shot", [12.0, -5.0])}
    upgraded["policy"] = {k: data[k] for k in ("threshold", "thresholds", "min_top_score") if k in data}
    upgraded["encoder"] = data.get("encoder", BUNDLED_ENCODER)
    return upgraded


def _id_hash(record_id: Any) -> int:
    """A stable 64-bit hash of an id, by its JSON form (so 1 and "1" differ, as in results)."""
    import hashlib

    digest = hashlib.blake2b(json.dumps(record_id, sort_keys=True).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _fit_head(design, share, weights, regularization):
    """One logistic head; a document that a share s of annotators tagged counts as a positive of
    weight s and a negative of weight 1 - s (the loss of a soft target, with scikit-learn's 0/1 labels)."""
    from scipy.sparse import vstack
    from sklearn.linear_model import LogisticRegression

    weights = np.ones(design.shape[0]) if weights is None else weights
    partial = np.flatnonzero((share > 0) & (share < 1))
    target = (share > 0).astype(np.int8)
    row_weights = weights * np.where(share > 0, share, 1.0)
    if len(partial):
        design = vstack([design, design[partial]], format="csr")
        target = np.concatenate([target, np.zeros(len(partial), np.int8)])
        row_weights = np.concatenate([row_weights, weights[partial] * (1.0 - share[partial])])
    head = LogisticRegression(C=regularization, max_iter=2000)
    head.fit(design, target, sample_weight=row_weights)
    return head.coef_[0].astype(np.float32), np.float32(head.intercept_[0])
