"""Compare feature set-ups for the default model on dev: accuracy by cross-validation, and speed.

    python benchmarks/compare_features.py --shared ../shared [--static artifacts/m2v-256]

Every set-up goes through the same recipe (scripts/build_default_model.py:
awesome rows + dev READMEs weighted x10, one logistic head per tag, Platt
calibration, threshold chosen out-of-fold) and differs only in features:

- tfidf: word 1-2-gram TF-IDF of the cleaned README (the encoder is skipped);
- minilm-int8: all-MiniLM-L6-v2 sentence embedding (ONNX, int8, 128 tokens);
- minilm-int8+tfidf: both, concatenated (the shipped default);
- static: a model2vec static embedding distilled from the same MiniLM (needs
  `pip install model2vec` and a model from `model2vec.distill`), if --static.

docs/s is end-to-end on the dev READMEs (cleaning + features + heads), one process.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from build_default_model import read_jsonl, training_documents  # noqa: E402

from repotag import Taxonomy  # noqa: E402
from repotag.model import bundled_model_dir  # noqa: E402
from repotag.pipeline import SentenceEncoder, document_text, repository_name  # noqa: E402
from repotag.training import train_model  # noqa: E402


class NoEmbedding:
    """Stands in for the encoder when a set-up uses TF-IDF alone."""

    def encode(self, texts):
        return np.zeros((len(texts), 1), dtype=np.float32)


class StaticEmbedding:
    """A model2vec static model with the encoder's interface."""

    def __init__(self, path: Path):
        from model2vec import StaticModel

        self.model = StaticModel.from_pretrained(str(path))

    def encode(self, texts):
        vectors = self.model.encode(list(texts)).astype(np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--static", type=Path, help="a model2vec model directory to include")
    args = parser.parse_args()

    taxonomy = Taxonomy.default()
    documents = training_documents(args.shared, 10.0)
    readmes = read_jsonl(args.shared / "data" / "dev" / "readmes.jsonl")
    minilm = SentenceEncoder(bundled_model_dir() / "encoder")
    setups = [
        ("tfidf", NoEmbedding(), {"embedding_weight": 0.0}),
        ("minilm-int8", minilm, {"max_features": 0}),
        ("minilm-int8+tfidf (default)", minilm, {}),
    ]
    if args.static:
        setups.append(("static model2vec", StaticEmbedding(args.static), {"max_features": 0}))
        setups.append(("static model2vec+tfidf", StaticEmbedding(args.static), {}))
    print("| features | micro-F1 | example-F1 | top-1 hit | docs/s |")
    print("|---|---|---|---|---|")
    for name, encoder, params in setups:
        result = train_model(taxonomy, documents, n_jobs=2, encoder=encoder, **params)
        model = result.model
        started = time.perf_counter()
        texts = [document_text(r["readme"], repository_name(r["id"])) for r in readmes]
        model.predict_proba(texts, taxonomy)
        speed = len(readmes) / (time.perf_counter() - started)
        s = result.report.summary()
        print(f"| {name} | {s['micro_f1']:.3f} | {s['example_f1']:.3f} | {s['top1_hit']:.3f} | {speed:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
