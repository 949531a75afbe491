"""The default floor for zero-shot tags: dev micro-F1 and untagged READMEs at several --min-score values.

    python scripts/measure_zero_shot_floor.py --shared ../shared

1. The 90 default tags renamed (so the model scores every one zero-shot, from name and description), on the
   dev READMEs: micro-F1 and top-1 against gold, and how many READMEs get no tag, per floor.
2. The 4-tag list CLI / Python library / HTTP service / batch on the dev READMEs whose gold has none of the
   related tags: how many get no tag (the right answer), per floor.
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from repotag import Tagger, Taxonomy  # noqa: E402
from repotag.evaluation import TaggingEvaluator  # noqa: E402

FLOORS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    dev = args.shared / "data" / "dev"
    rows = [json.loads(line) for line in open(dev / "readmes.jsonl", encoding="utf-8")]
    gold = {row["id"]: row["tags"] for row in map(json.loads, open(dev / "labels.jsonl", encoding="utf-8"))}
    tagger = Tagger.load()
    default = Taxonomy.default()
    renamed = Taxonomy.from_json([{"id": tag.id, "name": tag.name.strip() + " (tag)", "description": tag.description}
                                  for tag in default])
    back = {tag.name: original.name.strip() for tag, original in zip(renamed, default)}
    records = [{"id": row["id"], "readme": row["readme"]} for row in rows]
    print("| floor | micro-F1 | top-1 | untagged of 178 | unrelated READMEs with no tag (4-tag list) |")
    print("|---:|---:|---:|---:|---:|")
    four = Taxonomy.from_json(["CLI", "Python library", "HTTP service", "batch"])
    related = {"cli", "lib", "web-server", "http", "backend", "api"}
    unrelated = [r for r in records if not set(gold[r["id"]]) & related]
    for floor in FLOORS:
        results = list(tagger.tag_many(records, taxonomy=renamed, min_score=floor))
        predicted = {r.id: [back[t.tag.name] for t in r.tags] for r in results}
        summary = TaggingEvaluator(gold)(predicted).summary()
        untagged = sum(1 for tags in predicted.values() if not tags)
        none = sum(1 for r in tagger.tag_many(unrelated, taxonomy=four, min_score=floor) if not r.tags)
        print(f"| {floor:g} | {summary['micro_f1']:.3f} | {summary['top1_hit']:.3f} | {untagged} | "
              f"{none} of {len(unrelated)} |")


if __name__ == "__main__":
    main()
