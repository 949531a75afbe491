"""The tag model: an estimator with ``fit`` / ``predict_proba`` / ``save`` / ``load``.

One logistic head per tag over [sentence embedding * weight | TF-IDF]. Tags
with no training example fall back to zero-shot: the cosine between the
document embedding and the tag's name and description, mapped to a
probability by a calibrated sigmoid. Probabilities of trained tags are
calibrated by Platt scaling on out-of-fold predictions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np

from ._errors import ModelError
from ._features import DEFAULT_MAX_TOKENS, LexicalFeatures, SentenceEncoder
from ._taxonomy import Taxonomy, tag_key

FORMAT_VERSION = 1
BUNDLED_ENCODER = "bundled"


def bundled_model_dir() -> Path:
    """Directory of the embedded default model inside the installed package."""
    return Path(str(resources.files("repotag").joinpath("models").joinpath("default")))


def use_one_blas_thread() -> None:
    """Keep numpy's BLAS to one thread in a process repotag owns (batch worker, Ray actor, server).

    The neighbour vote is a BLAS product; with each of N processes starting its own
    BLAS threads, N processes on N cores fight (2 workers: 1.60x instead of 1.87x).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


@dataclass
class ModelConfig:
    """Hyper-parameters and fitted scalars of a :class:`TagModel`; saved as ``model.json``."""

    tags: list[str]
    descriptions: dict[str, str] = field(default_factory=dict)
    embedding_weight: float = 1.0
    regularization: float = 4.0
    #: TF-IDF vocabulary size; 0 uses the sentence embedding alone.
    max_features: int = 30_000
    max_tokens: int = DEFAULT_MAX_TOKENS
    #: Extra tags beyond the first are kept when their probability reaches this.
    threshold: float = 0.3
    #: Per-tag thresholds (by tag key) that replace ``threshold``, learnt out-of-fold.
    thresholds: dict[str, float] = field(default_factory=dict)
    #: The first tag is kept only when its probability reaches this.
    min_top_score: float = 0.0
    #: Platt scaling of trained heads: p = sigmoid(a * logit + b).
    calibration: tuple[float, float] = (1.0, 0.0)
    #: Zero-shot: p = sigmoid(a * cosine + b).
    zero_shot: tuple[float, float] = (12.0, -5.0)
    #: Nearest-neighbour vote over the training documents, blended with the heads:
    #: p = (1 - mix) * p_head + mix * vote; mix 0 turns it off.
    neighbors: int = 10
    neighbor_temperature: float = 10.0
    neighbor_mix: float = 0.5
    encoder: str = BUNDLED_ENCODER
    trained_tags: list[str] = field(default_factory=list)
    card: dict = field(default_factory=dict)

    def head_probability(self, logits: np.ndarray, votes: np.ndarray | None) -> np.ndarray:
        """Calibrated head outputs, blended with the neighbour vote when there is one."""
        a, b = self.calibration
        proba = _sigmoid(a * logits + b)
        if votes is None or self.neighbor_mix <= 0:
            return proba
        return (1 - self.neighbor_mix) * proba + self.neighbor_mix * votes

    def thresholds_for(self, keys: Sequence[str]) -> list[float]:
        """The threshold of each tag key, in order."""
        return [self.thresholds.get(key, self.threshold) for key in keys]

    def to_json(self) -> dict:
        data = dict(self.__dict__)
        data["format_version"] = FORMAT_VERSION
        data["calibration"] = list(self.calibration)
        data["zero_shot"] = list(self.zero_shot)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "ModelConfig":
        if data.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"unsupported model format version {data.get('format_version')!r}")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        config = cls(**known)
        config.calibration = tuple(config.calibration)
        config.zero_shot = tuple(config.zero_shot)
        return config


class TagModel:
    """Multi-label tag classifier for one tag list, with zero-shot fallback."""

    def __init__(self, config: ModelConfig, encoder: SentenceEncoder | None = None):
        self.config = config
        self.encoder = encoder or SentenceEncoder(
            bundled_model_dir() / "encoder", max_tokens=config.max_tokens
        )
        self.lexical: LexicalFeatures | None = None
        self.coef: np.ndarray | None = None  # (tags, features)
        self.intercept: np.ndarray | None = None
        # Training documents for the neighbour vote: unit embeddings, 0/1 labels, weights.
        self.memory: np.ndarray | None = None
        self.memory_labels: np.ndarray | None = None
        self.memory_weights: np.ndarray | None = None
        self._tag_embeddings: dict[str, np.ndarray] = {}

    # ---- construction -------------------------------------------------
    @classmethod
    def for_taxonomy(cls, taxonomy: Taxonomy, encoder: SentenceEncoder | None = None, **params) -> "TagModel":
        """An untrained model for ``taxonomy`` (zero-shot until :meth:`fit`)."""
        config = ModelConfig(
            tags=taxonomy.keys,
            descriptions={t.key: t.description for t in taxonomy if t.description},
            **params,
        )
        return cls(config, encoder)

    @property
    def tags(self) -> list[str]:
        return self.config.tags

    @property
    def is_trained(self) -> bool:
        return self.coef is not None

    # ---- features -----------------------------------------------------
    def embed(self, documents: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(documents)

    def _design(self, embeddings: np.ndarray, documents: Sequence[str]):
        from scipy.sparse import csr_matrix, hstack

        dense = csr_matrix(embeddings * self.config.embedding_weight)
        if self.lexical is None:  # max_features=0: embedding only
            return dense
        return hstack([dense, self.lexical.transform(documents)], format="csr")

    def tag_embeddings(self, tags: Sequence[tuple[str, str]]) -> np.ndarray:
        """Unit vectors for (key, text) pairs describing tags; cached by text."""
        missing = [text for _, text in tags if text not in self._tag_embeddings]
        if missing:
            for text, vector in zip(missing, self.encoder.encode(missing)):
                self._tag_embeddings[text] = vector
        return np.stack([self._tag_embeddings[text] for _, text in tags])

    def describe(self, key: str, name: str | None = None, description: str = "") -> str:
        """The text a tag is embedded as for zero-shot scoring."""
        description = description or self.config.descriptions.get(key, "")
        label = (name or key).strip()
        return f"{label}: {description}" if description else label

    # ---- fitting ------------------------------------------------------
    def fit(
        self,
        documents: Sequence[str],
        labels: Sequence[Sequence[str]],
        sample_weight: Sequence[float] | None = None,
        embeddings: np.ndarray | None = None,
        n_jobs: int = 1,
    ) -> "TagModel":
        """Train one head per tag that has at least one positive example.

        ``labels`` holds tag names per document; names outside the tag list raise.
        """
        from joblib import Parallel, delayed

        if len(documents) != len(labels):
            raise ModelError("documents and labels differ in length")
        if not len(documents):
            raise ModelError("no training documents")
        index = {key: i for i, key in enumerate(self.tags)}
        targets = np.zeros((len(documents), len(self.tags)), dtype=np.int8)
        for row, names in enumerate(labels):
            for name in names:
                key = tag_key(name)
                if key not in index:
                    raise ModelError(f"label {name!r} is not in the tag list")
                targets[row, index[key]] = 1
        if embeddings is None:
            embeddings = self.embed(documents)
        self.lexical = LexicalFeatures(self.config.max_features).fit(documents) if self.config.max_features else None
        design = self._design(embeddings, documents)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        trained = [j for j in range(len(self.tags)) if 0 < targets[:, j].sum() < len(documents)]
        heads = Parallel(n_jobs=n_jobs)(
            delayed(_fit_head)(design, targets[:, j], weights, self.config.regularization) for j in trained
        )
        self.coef = np.zeros((len(self.tags), design.shape[1]), dtype=np.float32)
        self.intercept = np.full(len(self.tags), -30.0, dtype=np.float32)
        for j, (coef, intercept) in zip(trained, heads):
            self.coef[j], self.intercept[j] = coef, intercept
        self.config.trained_tags = [self.tags[j] for j in trained]
        if self.config.neighbor_mix > 0:
            self.memory = np.asarray(embeddings, dtype=np.float32)
            self.memory_labels = targets.astype(np.uint8)
            self.memory_weights = np.ones(len(documents), np.float32) if weights is None else weights.astype(np.float32)
        return self

    # ---- prediction ---------------------------------------------------
    def trained_logits(self, documents: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
        """Raw head outputs for every tag (untrained tags get a large negative value)."""
        design = self._design(embeddings, documents)
        return np.asarray(design @ self.coef.T) + self.intercept

    def neighbor_votes(self, embeddings: np.ndarray) -> np.ndarray:
        """Each tag's share of the weighted vote of the nearest training documents."""
        k = min(self.config.neighbors, len(self.memory))
        similarity = embeddings @ self.memory.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        near_similarity = np.take_along_axis(similarity, nearest, axis=1)
        weight = np.exp(self.config.neighbor_temperature * near_similarity) * self.memory_weights[nearest]
        votes = np.einsum("nk,nkt->nt", weight, self.memory_labels[nearest].astype(np.float32))
        return votes / weight.sum(axis=1, keepdims=True)

    def head_proba(self, documents: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
        """Calibrated head probabilities blended with the neighbour vote, for the model's tags."""
        votes = self.neighbor_votes(embeddings) if self.memory is not None else None
        return self.config.head_probability(self.trained_logits(documents, embeddings), votes)

    def zero_shot_proba(self, embeddings: np.ndarray, tag_texts: Sequence[tuple[str, str]]) -> np.ndarray:
        slope, offset = self.config.zero_shot
        cosine = embeddings @ self.tag_embeddings(tag_texts).T
        return _sigmoid(slope * cosine + offset)

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
        trained = set(self.config.trained_tags) if self.is_trained else set()
        head_columns = [(c, self.tags.index(k)) for c, k in enumerate(keys) if k in trained]
        if head_columns:
            proba = self.head_proba(documents, embeddings)
            for column, head in head_columns:
                result[:, column] = proba[:, head]
        zero_columns = [c for c, k in enumerate(keys) if k not in trained]
        if zero_columns:
            texts = [(keys[c], self.describe(keys[c], names[keys[c]], custom.get(keys[c], ""))) for c in zero_columns]
            result[:, zero_columns] = self.zero_shot_proba(embeddings, texts)
        return result

    # ---- persistence --------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``model.json`` and ``weights.npz`` (and nothing executable) to ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = self.config.to_json()
        arrays = {}
        if self.is_trained:
            arrays = {"coef": self.coef.astype(np.float16), "intercept": self.intercept}
            if self.memory is not None:
                arrays.update(memory=self.memory.astype(np.float16), memory_labels=self.memory_labels,
                              memory_weights=self.memory_weights)
            if self.lexical is not None:
                config["lexical"], arrays["idf"] = self.lexical.state()
        (directory / "model.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
        np.savez_compressed(directory / "weights.npz", **arrays)
        return directory

    @classmethod
    def load(cls, directory: str | Path | None = None, threads: int = 0) -> "TagModel":
        """Load a saved model; ``None`` is the embedded default."""
        directory = bundled_model_dir() if directory is None else Path(directory)
        config_path = directory / "model.json"
        if not config_path.is_file():
            raise ModelError(f"not a repotag model directory (no model.json): {directory}")
        try:
            data = json.loads(config_path.read_text(encoding="utf-8"))
            config = ModelConfig.from_json(data)
            weights = np.load(directory / "weights.npz", allow_pickle=False)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ModelError(f"model in {directory} is unreadable: {exc}") from None
        encoder_dir = (
            bundled_model_dir() / "encoder" if config.encoder == BUNDLED_ENCODER else directory / config.encoder
        )
        if not (encoder_dir / "model.onnx").is_file():
            raise ModelError(f"model encoder not found in {encoder_dir}")
        model = cls(config, SentenceEncoder(encoder_dir, config.max_tokens, threads))
        if "coef" in weights:
            model.coef = weights["coef"].astype(np.float32)
            model.intercept = weights["intercept"].astype(np.float32)
            if "memory" in weights:
                model.memory = weights["memory"].astype(np.float32)
                model.memory_labels = weights["memory_labels"]
                model.memory_weights = weights["memory_weights"].astype(np.float32)
            if "lexical" in data:
                model.lexical = LexicalFeatures.from_state(data["lexical"], weights["idf"])
        return model


def _fit_head(design, target, weights, regularization):
    from sklearn.linear_model import LogisticRegression

    head = LogisticRegression(C=regularization, max_iter=2000)
    head.fit(design, target, sample_weight=weights)
    return head.coef_[0].astype(np.float32), np.float32(head.intercept_[0])
