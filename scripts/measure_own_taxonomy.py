"""A user's own tag names on the dev READMEs: does `repotag train` do at least as well as the default model?

    python scripts/evaluate_dev.py --shared ../shared --save-oof /tmp/oof.npz     # once, ~4 min
    python scripts/measure_own_taxonomy.py --shared ../shared --oof /tmp/oof.npz

The 178 dev READMEs are relabelled with the 90 default tags renamed ("ai" becomes "machine learning", "cli"
"command-line tool": scripts/data/renamed_tags.json), as a user with their own list would, and `repotag train`'s
recipe is cross-validated on them (5 folds, thresholds chosen on other folds). Built on the default model, a
renamed tag is matched to a default tag by meaning and by the agreement of its choices with the labels (each fold
matches on its own training folds). The default model was trained on these very READMEs, so its outputs here would
be in-sample: the measurement uses the out-of-fold default probabilities of scripts/evaluate_dev.py instead (each
README scored by a default model that never saw it), for the matching and for the scores alike. Compared with: the
default model on the same out-of-fold probabilities, and training from the user's labels alone (`--base none`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from repotag import Taxonomy  # noqa: E402
from repotag.evaluation import TaggingEvaluator  # noqa: E402
from repotag.model import TagModel  # noqa: E402
from repotag.pipeline import document_text, repository_name  # noqa: E402
from repotag.training import LabelledDocument, nested_predictions, train_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--oof", type=Path, required=True, help="out-of-fold default probabilities from "
                        "scripts/evaluate_dev.py --save-oof")
    parser.add_argument("--seed", type=int, default=0, help="fold seed of the user's cross-validation")
    parser.add_argument("--blend", type=float, nargs="*", default=[0.0],
                        help="base_blend values to report (0: matched tags scored by the default alone)")
    args = parser.parse_args()

    dev = args.shared / "data" / "dev"
    rows = [json.loads(line) for line in open(dev / "readmes.jsonl", encoding="utf-8")]
    labels = {row["id"]: row for row in map(json.loads, open(dev / "labels.jsonl", encoding="utf-8"))}
    default = Taxonomy.default()
    names = json.loads((ROOT / "scripts" / "data" / "renamed_tags.json").read_text(encoding="utf-8"))["names"]
    renamed = Taxonomy.from_json([{"id": tag.id, "name": names[tag.key]} for tag in default])
    rename = {tag.key: new.key for tag, new in zip(default, renamed)}
    documents = []
    for row in rows:
        gold = labels[row["id"]]
        answers = gold.get("annotators")
        documents.append(LabelledDocument(row["id"], document_text(row["readme"], repository_name(row["id"])),
                                          [rename[t.strip()] for t in gold["tags"]],
                                          annotations=[[rename[t.strip()] for t in a] for a in answers] if answers else None))
    saved = np.load(args.oof)
    position = {str(i): n for n, i in enumerate(saved["ids"])}
    base_oof = saved["probabilities"][[position[d.id] for d in documents]]
    base = TagModel.load()
    embeddings = base.embed([d.text for d in documents])
    ids = [d.id for d in documents]
    default_gold = {i: [t.strip() for t in labels[i]["tags"]] for i in ids}

    reports = {}
    # The default model itself, its thresholds chosen on other folds (as scripts/evaluate_dev.py scores it).
    predicted = nested_predictions(base_oof, list(default_gold.values()), ids, default, per_tag=True,
                                   seed=int(saved["seed"]) + 1)
    reports["default model (out-of-fold), same READMEs"] = TaggingEvaluator(default_gold)(predicted).summary()
    common = dict(folds=5, seed=args.seed, zero_shot=base.calibration.zero_shot, embeddings=embeddings)
    for blend in args.blend:
        result = train_model(renamed, documents, base=base, base_probabilities=base_oof, base_blend=blend, **common)
        matched = result.model.base_tags
        right = sum(1 for key, base_key in matched.items() if rename[base_key] == key)
        reports[f"repotag train, built on the default (blend {blend:g}; {right} of {len(matched)} tags matched "
                f"to their own default tag)"] = result.nested_report.summary()
    alone = train_model(renamed, documents, **common)
    reports["repotag train --base none (the user's labels alone)"] = alone.nested_report.summary()
    print("| set-up | micro-F1 | example-F1 | top-1 hit |\n|---|---|---|---|")
    for name, summary in reports.items():
        print(f"| {name} | {summary['micro_f1']:.3f} | {summary['example_f1']:.3f} | {summary['top1_hit']:.3f} |")


if __name__ == "__main__":
    main()
