"""Honest accuracy of the default recipe on the dev set, by cross-validation.

    python scripts/evaluate_dev.py --shared ../shared [--encoder DIR] [--chart dev.png] [--json]

The shipped model is trained on the awesome-list rows *and* the dev READMEs,
so scoring it on dev would be in-sample. This script re-runs the recipe of
scripts/build_default_model.py with 5-fold cross-validation over the dev
READMEs: each README is tagged by a model that never saw it, with the decision
policy chosen on the other folds ("nested"). It prints micro/macro/example-F1,
top-1 hit, the per-tag table, the most confused pairs, the tag-count
distribution against gold, and the Chinese dev-zh set (tagged by the final
model, which never saw it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from build_default_model import RECIPE, read_jsonl, training_documents  # noqa: E402

from repotag import Taxonomy  # noqa: E402
from repotag.evaluation import TaggingEvaluator, write_chart  # noqa: E402
from repotag.model import TagModel, bundled_model_dir  # noqa: E402
from repotag.pipeline import SentenceEncoder, document_text, repository_name  # noqa: E402
from repotag.training import nested_predictions, predictions_at, train_model  # noqa: E402


def tag_counts(tag_lists) -> dict[int, int]:
    counts = Counter(len(tags) for tags in tag_lists)
    return {n: counts.get(n, 0) for n in range(4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--encoder", type=Path, default=bundled_model_dir() / "encoder",
                        help="ONNX encoder directory (default: the shipped one)")
    parser.add_argument("--dev-weight", type=float, default=RECIPE["dev_weight"])
    parser.add_argument("--train-weight", type=float, default=RECIPE["train_weight"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="fold seed (the nested thresholds' folds use seed + 1)")
    parser.add_argument("--neighbor-temperature", type=float, help="override the shipped vote temperature")
    parser.add_argument("--majority-only", action="store_true",
                        help="heads learn the majority tags only, not each annotator's answer")
    parser.add_argument("--chart", type=Path, help="write the per-tag / reliability PNG here")
    parser.add_argument("--json", action="store_true", help="print only the headline metrics as JSON")
    parser.add_argument("--save-oof", type=Path,
                        help="write the out-of-fold dev probabilities here (.npz), e.g. for benchmarks/bench_cascade.py")
    parser.add_argument("--min-score", type=float, nargs="*", default=[],
                        help="also report the nested scores with these tag floors (repotag's --min-score)")
    args = parser.parse_args()

    taxonomy = Taxonomy.default()
    documents = training_documents(args.shared, args.dev_weight, args.train_weight, not args.majority_only)
    params = asdict(TagModel.load().params)  # the shipped hyper-parameters
    if args.neighbor_temperature is not None:
        params["neighbor_temperature"] = args.neighbor_temperature
    result = train_model(taxonomy, documents, folds=args.folds, n_jobs=2, calibrate_zero_shot=True, seed=args.seed,
                         encoder=SentenceEncoder(args.encoder), **params)
    dev, model = [d for d in documents if d.evaluate], result.model
    predicted, scores = predictions_at(result.oof_probabilities, taxonomy, 3, model.policy)
    gold = {d.id: d.tags for d in dev}
    if args.save_oof:
        import numpy as np

        np.savez(args.save_oof, probabilities=result.oof_probabilities, ids=np.array([d.id for d in dev]),
                 seed=args.seed)
    report = TaggingEvaluator(gold)(dict(zip(gold, predicted)), dict(zip(gold, scores)))
    nested = result.nested_report.summary()
    floors = {}
    for floor in args.min_score:
        floored = nested_predictions(result.oof_probabilities, [d.tags for d in dev], [d.id for d in dev], taxonomy,
                                     per_tag=True, seed=args.seed + 1, min_score=floor)
        untagged = sum(1 for tags in floored.values() if not tags)
        floors[floor] = {**TaggingEvaluator(gold)(floored).summary(), "untagged": untagged}

    zh_dir = args.shared / "data" / "dev-zh"
    zh_gold = {row["id"]: row["tags"] for row in read_jsonl(zh_dir / "labels.jsonl")}
    zh_rows = read_jsonl(zh_dir / "readmes.jsonl")
    zh_texts = [document_text(row["readme"], repository_name(row["id"])) for row in zh_rows]
    zh_predicted, _ = predictions_at(model.predict_proba(zh_texts, taxonomy), taxonomy, 3, model.policy)
    zh_report = TaggingEvaluator(zh_gold)({row["id"]: p for row, p in zip(zh_rows, zh_predicted)})
    counts = {"predicted": tag_counts(predicted), "gold": tag_counts(gold.values())}
    if args.json:
        print(json.dumps({"nested": nested, "same_folds": report.summary(), "dev_zh": zh_report.summary(),
                          "tag_counts": counts, "nested_with_min_score": floors}))
    else:
        print(f"# dev set, {args.folds}-fold cross-validation, policy {model.policy}\n")
        print(f"honest (policy chosen on other folds): {json.dumps(nested)}\n")
        for floor, summary in floors.items():
            print(f"honest, with --min-score {floor:g}: {json.dumps(summary)}")
        print(f"tag counts per README (0/1/2/3), same-fold policy: predicted {counts['predicted']}, gold {counts['gold']}\n")
        print("with the policy chosen on these same out-of-fold predictions:")
        print(report.format())
        print(f"\n# dev-zh ({len(zh_rows)} Chinese or mixed READMEs; never in training)\n")
        print("\n".join(zh_report.format().splitlines()[:5]))
        print("\nper README: " + "; ".join(f"{row['id']} -> {p} (gold {zh_gold[row['id']]})"
                                          for row, p in zip(zh_rows, zh_predicted)))
    if args.chart:
        write_chart(report, args.chart)
        print(f"chart written to {args.chart}", file=sys.stderr)


if __name__ == "__main__":
    main()
