"""The cascade on dev: micro-F1 against gold and the share of READMEs sent to the LLM, at several --llm-below P.

    python scripts/evaluate_dev.py --shared ../shared --save-oof /tmp/oof.npz     # honest first-stage scores
    python benchmarks/bench_cascade.py --shared ../shared --oof /tmp/oof.npz [--chart cascade.png]

The LLM is REPLAYED, not called: each dev README's LLM answer is its first annotator's tags
(``annotators[0]`` in labels.jsonl), served over HTTP by the tests' scripted chat-completions server
(tests/llm_server.py), so the numbers say what a cascade gains with an LLM as good as one annotator.
The real LLM backend and cascade run end to end (prompt, HTTP, answer rules); only the server is scripted.

The embedded model's scores are out-of-fold (the shipped model trained on dev, so its own scores
would be in-sample): each README is scored by a model that never saw it, and decided by the policy
chosen on the other folds, exactly as ``evaluate_dev.py`` reports its nested score.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from repotag import Tagger, Taxonomy  # noqa: E402
from repotag.backends import Backend, CascadeBackend, LLMBackend, PolicyScores  # noqa: E402
from repotag.evaluation import TaggingEvaluator  # noqa: E402
from repotag.training import choose_policy, fold_splits  # noqa: E402

SERVER = ROOT / "tests" / "llm_server.py"
#: READMEs' opening characters the replay server matches a request by.
MATCH_CHARS = 300


class OutOfFold(Backend):
    """The embedded model's out-of-fold scores for dev, each README decided by its fold's nested policy."""

    name = "embedded-out-of-fold"

    def __init__(self, rows: dict, policies: dict):
        self.rows, self.policies = rows, policies

    def score(self, documents, taxonomy):
        return [PolicyScores(self.rows[d.id], self.policies[d.id]) for d in documents]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def out_of_fold(oof_path: Path, gold: dict, taxonomy: Taxonomy) -> OutOfFold:
    import numpy as np

    saved = np.load(oof_path)
    probabilities, ids, seed = saved["probabilities"], [str(i) for i in saved["ids"]], int(saved["seed"])
    labels = [gold[i] for i in ids]
    policies = {}
    for fit, held in fold_splits(len(ids), 5, seed + 1):  # evaluate_dev's nested folds
        policy = choose_policy(probabilities[fit], [labels[i] for i in fit], taxonomy, 3, per_tag=True)
        policies.update({ids[i]: policy for i in held})
    return OutOfFold({i: list(map(float, row)) for i, row in zip(ids, probabilities)}, policies)


def start_replay(readmes: list[dict], answers: dict, folder: Path) -> tuple[subprocess.Popen, str]:
    openings = [row["readme"][:MATCH_CHARS] for row in readmes]
    clashes = [o for o in openings if sum(o in other["readme"][:6000] for other in readmes) > 1]
    if clashes:
        raise SystemExit(f"{len(clashes)} READMEs share their opening: raise MATCH_CHARS")
    rules = [{"match": opening, "responses": [{"content": json.dumps({"tags": answers[row["id"]]})}]}
             for opening, row in zip(openings, readmes)]
    script = folder / "replay.json"
    script.write_text(json.dumps({"rules": rules}))
    process = subprocess.Popen([sys.executable, str(SERVER), str(script), "--log", str(folder / "requests.jsonl")],
                               stdout=subprocess.PIPE, text=True)
    return process, f"http://127.0.0.1:{process.stdout.readline().strip()}/v1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--oof", type=Path, required=True, help="evaluate_dev.py --save-oof output")
    parser.add_argument("--below", type=float, nargs="*", default=[0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    parser.add_argument("--chart", type=Path, help="write the F1 / share-sent curve here (PNG)")
    args = parser.parse_args()

    taxonomy = Taxonomy.default()
    dev = args.shared / "data" / "dev"
    readmes = read_jsonl(dev / "readmes.jsonl")
    labels = {row["id"]: row for row in read_jsonl(dev / "labels.jsonl")}
    gold = {i: row["tags"] for i, row in labels.items()}
    replayed = {i: row["annotators"][0] for i, row in labels.items()}
    first = out_of_fold(args.oof, gold, taxonomy)
    evaluate = TaggingEvaluator(gold)
    records = [{"id": row["id"], "readme": row["readme"]} for row in readmes]

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        server, url = start_replay(readmes, replayed, Path(folder))
        try:
            for below in args.below:
                llm = LLMBackend(url, "replayed-annotator-1", cache=None)
                cascade = CascadeBackend(first, llm, below)
                results = list(Tagger(cascade, taxonomy).tag_many(records, errors="record"))
                failed = [r.id for r in results if not r.ok]
                if failed:
                    raise SystemExit(f"P={below}: {len(failed)} errors, e.g. {failed[0]}")
                report = evaluate({r.id: [t.tag.name for t in r.tags] for r in results}).summary()
                sent = cascade.stats()["cascade_second"] / len(records)
                rows.append({"below": below, "sent": sent, **report})
        finally:
            server.kill()
    model_alone = evaluate({r.id: [t.tag.name for t in r.tags] for r in Tagger(first, taxonomy).tag_many(records)})
    model_alone = model_alone.summary()
    llm_alone = evaluate(replayed).summary()  # optimistic: the first annotator is one of gold's three

    print("# Cascade on dev (178 READMEs): embedded model out-of-fold, LLM REPLAYED (first annotator's tags)\n")
    print("| --llm-below P | sent to the LLM | micro-F1 | example-F1 | top-1 hit |")
    print("|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['below']:.2f} | {100 * row['sent']:.0f}% | {row['micro_f1']:.3f} | {row['example_f1']:.3f} | "
              f"{row['top1_hit']:.3f} |")
    print(f"\nembedded alone (out-of-fold): micro-F1 {model_alone['micro_f1']:.3f}; replayed LLM alone: micro-F1 "
          f"{llm_alone['micro_f1']:.3f} (optimistic: the first annotator is one of the three whose majority is gold)")
    if args.chart:
        write_chart(rows, model_alone["micro_f1"], llm_alone["micro_f1"], args.chart)
        print(f"chart written to {args.chart}", file=sys.stderr)


def write_chart(rows: list[dict], alone: float, llm: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot([100 * r["sent"] for r in rows], [r["micro_f1"] for r in rows], marker="o", label="cascade")
    for row in rows:
        axis.annotate(f"P={row['below']:g}", (100 * row["sent"], row["micro_f1"]), textcoords="offset points",
                      xytext=(4, -10), fontsize=7)
    axis.axhline(alone, color="grey", linestyle="--", label="embedded alone")
    axis.axhline(llm, color="green", linestyle=":", label="replayed LLM alone")
    axis.set_xlabel("READMEs sent to the LLM (%)")
    axis.set_ylabel("dev micro-F1")
    axis.set_title("Cascade on dev (LLM replayed: first annotator)")
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)

if __name__ == "__main__":
    main()
