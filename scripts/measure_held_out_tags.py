"""Zero-shot on tags the model never learnt: default tags held out, renamed, scored from their text.

    python scripts/evaluate_dev.py --shared ../shared --save-oof /tmp/oof.npz     # once, ~4 min
    python scripts/measure_held_out_tags.py --shared ../shared --oof /tmp/oof.npz [--plain-encoder]

The 90 default tags are split into 5 folds. For each fold, its 18 tags play a user's new tags: renamed
(scripts/data/renamed_tags.json), described or not, and scored on the dev READMEs by a scorer that learnt only
from the other 72 tags. Each dev README gets the held-out tags scoring over a threshold (at most 3, none
forced); micro-F1 is pooled over the 5 folds against gold restricted to the same tags. Compared with the trained
default on the same tags: its out-of-fold probabilities (each README scored by a default model that never saw
it), its own per-tag thresholds, the same rule.

Zero-shot scorers:
- cosine: cosine of the README and the tag text embeddings, Platt-scaled on the known tags (what
  `repotag tag --taxonomy` does today);
- pairwise: a logistic regression over (README, tag text) pairs of the known tags, on tag-agnostic features:
  the element-wise product of the two embeddings, their cosine, and the share of the tag's words the README
  uses. Trained on the awesome rows and the 413 training READMEs; no dev README trains anything.
- retrieval: each tag as the centroid of the training documents nearest its text (no labels used).
- sections: distant supervision from the awesome lists' own structure, no tag labels: a head per tag learns which
  awesome rows sit in list sections whose text ("cli apps: Utilities", "go: Database > SQL Query Builders") is close
  to the tag text; its logit and the cosine are combined by a logistic regression fitted on the known tags.
Thresholds are chosen on the 413 training READMEs' known tags, split into lists of 18. The shipped encoder was
fine-tuned on all 90 tags, so its rows are optimistic for truly new tags; --plain-encoder uses all-MiniLM-L6-v2
as published (honest; needs `pip install -e ".[build]"` to export it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from build_default_model import read_jsonl, training_readmes  # noqa: E402

from repotag import Taxonomy  # noqa: E402
from repotag.model import TagModel, bundled_model_dir  # noqa: E402
from repotag.pipeline import SentenceEncoder, document_text, repository_name  # noqa: E402

TAG_FOLDS = 5
THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.025), 3)
_WORD = re.compile(r"[a-z0-9][a-z0-9+#.-]*[a-z0-9+#]|[a-z0-9]")
_STOP = frozenset("a an and as at by for from in into is it of on or the to with their its any other".split())


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def word_share(documents: list[set[str]], tag_words: list[set[str]]) -> np.ndarray:
    """Share of each tag's words that each document uses (documents x tags)."""
    return np.array([[len(t & d) / len(t) if t else 0.0 for t in tag_words] for d in documents], dtype=np.float32)


class Corpus:
    """Documents with embeddings, the words they use and 0/1 targets over the default tags."""

    def __init__(self, texts: list[str], tags: list[list[str]], encoder: SentenceEncoder, model: TagModel):
        self.embeddings = encoder.encode(texts)
        self.words = [words(t) for t in texts]
        self.targets = model.targets(tags)


def features(corpus: Corpus, rows: np.ndarray, tag_vectors: np.ndarray, tag_words: list[set[str]],
             columns: np.ndarray) -> np.ndarray:
    """(rows x columns) pairs as feature rows: embedding product, cosine, name-word share."""
    docs = corpus.embeddings[rows]
    product = docs[:, None, :] * tag_vectors[columns][None, :, :]
    cosine = product.sum(axis=2, keepdims=True)
    share = word_share([corpus.words[r] for r in rows], [tag_words[c] for c in columns])[:, :, None]
    return np.concatenate([product, cosine, share], axis=2).reshape(len(rows) * len(columns), -1)


def decide(probabilities: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """0/1 choices: tags reaching their threshold, at most 3 per row, none forced."""
    chosen = np.zeros_like(probabilities, dtype=bool)
    order = np.argsort(-probabilities, axis=1)[:, :3]
    for row, top in enumerate(order):
        for column in top:
            chosen[row, column] = probabilities[row, column] >= thresholds[column]
    return chosen


def counts(chosen: np.ndarray, gold: np.ndarray) -> np.ndarray:
    return np.array([(chosen & gold).sum(), (chosen & ~gold).sum(), (~chosen & gold).sum()])


def micro_f1(tp_fp_fn: np.ndarray) -> float:
    tp, fp, fn = tp_fp_fn
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def best_global_threshold(probabilities: np.ndarray, gold: np.ndarray, list_size: int) -> float:
    """The threshold with the best micro-F1 when the known tags are split into lists of the held-out list's size.

    Deciding among 18 tags is not deciding among 72: most READMEs have no gold tag in a short list.
    """
    groups = np.array_split(np.arange(gold.shape[1]), max(1, round(gold.shape[1] / list_size)))
    scores = [micro_f1(sum(counts(decide(probabilities[:, g], np.full(len(g), t)), gold[:, g]) for g in groups))
              for t in THRESHOLDS]
    return float(THRESHOLDS[int(np.argmax(scores))])


def platt(cosine: np.ndarray, gold: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(C=10.0).fit(cosine.reshape(-1, 1), gold.reshape(-1))
    return lambda values: fitted.predict_proba(values.reshape(-1, 1))[:, 1].reshape(values.shape)


def pairwise(train: Corpus, known: np.ndarray, tag_vectors: np.ndarray, tag_words: list[set[str]], seed: int):
    """A logistic regression over (document, known tag) pairs; returns a scorer for any corpus and tags."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    rows = np.arange(len(train.targets))
    x = features(train, rows, tag_vectors, tag_words, known)
    y = train.targets[:, known].reshape(-1)
    # All positives, a fifth of the negatives (weighted back up): the pairs fit in memory and time.
    keep = (y == 1) | (rng.random(len(y)) < 0.2)
    weight = np.where(y[keep] == 1, 1.0, 5.0)
    fitted = LogisticRegression(C=1.0, max_iter=300).fit(x[keep], y[keep], sample_weight=weight)

    def score(corpus: Corpus, columns: np.ndarray) -> np.ndarray:
        rows = np.arange(len(corpus.targets))
        pairs = features(corpus, rows, tag_vectors, tag_words, columns)
        return fitted.predict_proba(pairs)[:, 1].reshape(len(rows), len(columns))

    return score


def retrieval(train: Corpus, tag_vectors: np.ndarray, known: np.ndarray, neighbours: int):
    """Each tag as the centroid of the training documents nearest its text (no labels), Platt-scaled on known tags."""
    nearest = np.argsort(-(train.embeddings @ tag_vectors.T), axis=0)[:neighbours]  # neighbours x tags
    centroids = train.embeddings[nearest].mean(axis=0)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    calibrated = platt(train.embeddings @ centroids[known].T, train.targets[:, known])
    return lambda corpus, columns: calibrated(corpus.embeddings @ centroids[columns].T)


def section_heads(awesome: list[dict], train: Corpus, encoder: SentenceEncoder, tag_vectors: np.ndarray,
                  similarity: float = 0.5, margin: float = 0.1) -> np.ndarray:
    """Per tag, a logistic regression on the awesome rows' embeddings: is the row in a section like the tag's text?

    Sections whose text is at least ``similarity`` from the tag text and within ``margin`` of the closest one are
    the positives; no tag label is used. Returns one row per tag: the head's weights, then its bias.
    """
    from sklearn.linear_model import LogisticRegression

    def section(row: dict) -> str:
        return f"{row['source'].split('/')[-1].removeprefix('awesome-').replace('-', ' ')}: {row['section']}"

    texts = sorted({section(r) for r in awesome})
    index = {text: i for i, text in enumerate(texts)}
    row_section = np.array([index[section(r)] for r in awesome])
    closeness = encoder.encode(texts) @ tag_vectors.T  # sections x tags
    heads = []
    for tag in range(tag_vectors.shape[0]):
        near = np.flatnonzero((closeness[:, tag] >= similarity) & (closeness[:, tag] >= closeness[:, tag].max() - margin))
        inside = np.isin(row_section, near if len(near) else [closeness[:, tag].argmax()])
        fitted = LogisticRegression(max_iter=300, class_weight="balanced").fit(train.embeddings[:len(awesome)], inside)
        heads.append(np.append(fitted.coef_[0], fitted.intercept_[0]))
    return np.array(heads)


def sections(train: Corpus, heads: np.ndarray, tag_vectors: np.ndarray, known: np.ndarray):
    """The section head's logit and the cosine, combined by a logistic regression over the known tags' pairs."""
    from sklearn.linear_model import LogisticRegression

    def pairs(corpus: Corpus, columns: np.ndarray) -> np.ndarray:
        logit = corpus.embeddings @ heads[columns, :-1].T + heads[columns, -1]
        return np.stack([logit, corpus.embeddings @ tag_vectors[columns].T], axis=-1).reshape(-1, 2)

    fitted = LogisticRegression().fit(pairs(train, known), train.targets[:, known].reshape(-1))
    return lambda corpus, columns: fitted.predict_proba(pairs(corpus, columns))[:, 1].reshape(len(corpus.targets), -1)


def plain_encoder() -> Path:
    from repotag.training.finetune import base_encoder_path, export_onnx

    target = Path(tempfile.mkdtemp()) / "plain"
    export_onnx(base_encoder_path(), target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--oof", type=Path, required=True,
                        help="out-of-fold default probabilities from scripts/evaluate_dev.py --save-oof")
    parser.add_argument("--plain-encoder", action="store_true",
                        help="score zero-shot with all-MiniLM-L6-v2 as published (never saw the tags)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the tag folds")
    parser.add_argument("--neighbours", type=int, nargs="*", default=[50],
                        help="retrieval scorer: training documents per tag centroid")
    args = parser.parse_args()

    default = Taxonomy.default()
    model = TagModel.load()
    keys = np.array(default.keys)
    names = json.loads((ROOT / "scripts" / "data" / "renamed_tags.json").read_text(encoding="utf-8"))["names"]
    encoder = SentenceEncoder(plain_encoder() if args.plain_encoder else bundled_model_dir() / "encoder")

    awesome = read_jsonl(args.shared / "data" / "train" / "awesome-labelled.jsonl")
    readmes = training_readmes(args.shared)
    train = Corpus([document_text(r.get("description") or "", r["name"]) for r in awesome] +
                   [document_text(r["readme"], repository_name(r["id"])) for r in readmes],
                   [r["tags"] for r in awesome] + [r["tags"] for r in readmes], encoder, model)
    train_readme_rows = np.arange(len(awesome), len(awesome) + len(readmes))
    labels = {r["id"]: r for r in read_jsonl(args.shared / "data" / "dev" / "labels.jsonl")}
    dev_rows = read_jsonl(args.shared / "data" / "dev" / "readmes.jsonl")
    dev = Corpus([document_text(r["readme"], repository_name(r["id"])) for r in dev_rows],
                 [labels[r["id"]]["tags"] for r in dev_rows], encoder, model)
    gold = dev.targets.astype(bool)

    saved = np.load(args.oof)
    position = {str(i): n for n, i in enumerate(saved["ids"])}
    oof = saved["probabilities"][[position[r["id"]] for r in dev_rows]]
    default_thresholds = np.array(model.policy.thresholds_for(default.keys))

    texts = {
        "names only": [names[k] for k in keys],
        "names + descriptions": [f"{names[k]}: {model.descriptions.get(k, '')}" for k in keys],
    }
    folds = np.array_split(np.random.default_rng(args.seed).permutation(len(keys)), TAG_FOLDS)
    results = {"trained default (out-of-fold)": np.zeros(3, dtype=int)}
    # Tag texts, their words and the section heads use no label: the same ones serve every fold.
    vectors_of = {label: encoder.encode(tag_texts) for label, tag_texts in texts.items()}
    words_of = {label: [words(t) for t in tag_texts] for label, tag_texts in texts.items()}
    heads_of = {label: section_heads(awesome, train, encoder, vectors) for label, vectors in vectors_of.items()}
    for fold, held in enumerate(folds):
        held = np.sort(held)
        known = np.setdiff1d(np.arange(len(keys)), held)
        results["trained default (out-of-fold)"] += counts(decide(oof[:, held], default_thresholds[held]), gold[:, held])
        for label in texts:
            vectors, tag_words = vectors_of[label], words_of[label]
            calibrated = platt(train.embeddings @ vectors[known].T, train.targets[:, known])
            scorers = {"cosine": lambda corpus, columns: calibrated(corpus.embeddings @ vectors[columns].T),
                       "pairwise": pairwise(train, known, vectors, tag_words, args.seed + fold),
                       "sections + cosine": sections(train, heads_of[label], vectors, known)}
            for neighbours in args.neighbours:
                scorers[f"retrieval {neighbours}"] = retrieval(train, vectors, known, neighbours)
            readme_corpus = Corpus.__new__(Corpus)
            readme_corpus.embeddings = train.embeddings[train_readme_rows]
            readme_corpus.words = [train.words[r] for r in train_readme_rows]
            readme_corpus.targets = train.targets[train_readme_rows]
            for scorer_name, scorer in scorers.items():
                threshold = best_global_threshold(scorer(readme_corpus, known), readme_corpus.targets[:, known] == 1,
                                                  len(held))
                chosen = decide(scorer(dev, held), np.full(len(held), threshold))
                row = f"zero-shot {scorer_name}, {label}"
                results[row] = results.get(row, np.zeros(3, dtype=int)) + counts(chosen, gold[:, held])
                print(f"fold {fold}: {row}: threshold {threshold:g}, micro-F1 "
                      f"{micro_f1(counts(chosen, gold[:, held])):.3f}", file=sys.stderr)
    encoder_name = "all-MiniLM-L6-v2 as published" if args.plain_encoder else "the shipped (fine-tuned) encoder"
    print(f"Held-out tags on dev, {TAG_FOLDS} tag folds, zero-shot with {encoder_name}:\n")
    print("| set-up | micro-F1 | precision | recall |")
    print("|---|---:|---:|---:|")
    for row, (tp, fp, fn) in results.items():
        print(f"| {row} | {micro_f1(np.array([tp, fp, fn])):.3f} | {tp / max(1, tp + fp):.3f} | {tp / max(1, tp + fn):.3f} |")


if __name__ == "__main__":
    main()
