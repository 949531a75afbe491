"""Honest accuracy of the default recipe on the dev set, by cross-validation.

    python scripts/evaluate_dev.py --shared ../shared [--chart dev.png] [--json]

The shipped model is trained on the awesome-list rows *and* the dev READMEs,
so scoring it on dev would be in-sample. This script re-runs the recipe of
scripts/build_default_model.py with 5-fold cross-validation over the dev
READMEs: each README is tagged by a model that never saw it. It prints
micro/macro/example-F1, top-1 hit, the per-tag table and the most confused
pairs, and the same scores on the non-English (mostly Chinese) subset.
`--train-only` scores a model trained on the awesome rows alone (dev unseen).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from build_default_model import read_jsonl, training_documents  # noqa: E402

from repotag._evaluation import TaggingEvaluator, write_chart  # noqa: E402
from repotag._model import TagModel  # noqa: E402
from repotag._taxonomy import Taxonomy  # noqa: E402
from repotag._training import predictions_at, train_model  # noqa: E402

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def is_non_english(readme: str) -> bool:
    """A README whose opening is at least 10% CJK characters."""
    head = readme[:6000]
    letters = sum(ch.isalpha() for ch in head)
    return bool(letters) and len(_CJK.findall(head)) / letters >= 0.10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--dev-weight", type=float, default=10.0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--train-only", action="store_true", help="train on the awesome rows only; dev unseen")
    parser.add_argument("--chart", type=Path, help="write the per-tag / reliability PNG here")
    parser.add_argument("--json", action="store_true", help="print only the headline metrics as JSON")
    args = parser.parse_args()

    taxonomy = Taxonomy.default()
    documents = training_documents(args.shared, args.dev_weight)
    config = TagModel.load().config  # the shipped hyper-parameters
    params = dict(embedding_weight=config.embedding_weight, regularization=config.regularization,
                  max_features=config.max_features, max_tokens=config.max_tokens)
    if args.train_only:
        dev = [d for d in documents if d.evaluate]
        model = train_model(taxonomy, [d for d in documents if not d.evaluate], n_jobs=2, **params).model
        model.config.threshold = config.threshold
        probabilities = model.predict_proba([d.text for d in dev], taxonomy)
    else:
        result = train_model(taxonomy, documents, folds=args.folds, n_jobs=2, calibrate_zero_shot=True, **params)
        dev, probabilities, model = [d for d in documents if d.evaluate], result.oof_probabilities, result.model
    predicted, scores = predictions_at(probabilities, taxonomy, 3, model.config.thresholds_for(taxonomy.keys))
    gold = {d.id: d.tags for d in dev}
    report = TaggingEvaluator(gold)(dict(zip(gold, predicted)), dict(zip(gold, scores)))

    readmes = {row["id"]: row["readme"] for row in read_jsonl(args.shared / "data" / "dev" / "readmes.jsonl")}
    subset = [i for i in gold if is_non_english(readmes[i])]
    sub_report = TaggingEvaluator({i: gold[i] for i in subset})(
        {i: p for i, p in zip(gold, predicted) if i in subset}
    )
    mode = "trained on awesome rows only" if args.train_only else f"{args.folds}-fold cross-validation over dev"
    nested = None if args.train_only else result.nested_report.summary()
    if args.json:
        print(json.dumps({"mode": mode, "all": report.summary(), "nested": nested,
                          "non_english": sub_report.summary()}))
    else:
        print(f"# dev set, {mode}, global threshold {model.config.threshold}, "
              f"{len(model.config.thresholds)} per-tag thresholds\n")
        if nested:
            print(f"honest (thresholds chosen on other folds): {json.dumps(nested)}\n")
            print("with thresholds chosen on these same out-of-fold predictions:")
        print(report.format())
        print(f"\n# non-English subset ({len(subset)} READMEs: {', '.join(subset)})\n")
        print("\n".join(sub_report.format().splitlines()[:5]))
        print("\nper README: " + "; ".join(
            f"{i} -> {p} (gold {gold[i]})" for i, p in zip(gold, predicted) if i in subset))
    if args.chart:
        write_chart(report, args.chart)
        print(f"chart written to {args.chart}", file=sys.stderr)


if __name__ == "__main__":
    main()
