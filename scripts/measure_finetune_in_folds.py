"""Fine-tuning inside the dev folds: does the encoder gain from the dev READMEs, not only the heads?

    pip install -e ".[build]"
    python scripts/measure_finetune_in_folds.py --shared ../shared [--seed S] [--source rebuilt|shipped] [--no-finetune]

The shipped encoder was fine-tuned on the awesome rows and the training READMEs only (dev untouched). Here, for
each of the 5 dev folds, it is fine-tuned further ("stage 2") on that fold's fit READMEs (annotators' shares as
targets, x``--dev-weight``), the 413 training READMEs (x1) and ``--awesome`` random awesome rows (so the short
one-liners are not forgotten), exported to int8 ONNX, and every training document is re-encoded with it. The
fold's heads (shipped settings) are fit on those vectors and score the held-out READMEs, which never reached the
encoder. Calibration is fit on the pooled out-of-fold outputs and thresholds are chosen by the nested rule, as in
scripts/evaluate_dev.py, so ``--no-finetune`` reproduces its numbers for the same encoder.

``--source shipped`` starts stage 2 from the shipped encoder, its int8 weights dequantized to an fp32 checkpoint
(the shipped fp32 weights were not kept); re-exporting that checkpoint gives the shipped predictions exactly.
``--source rebuilt`` starts from a fresh run of the build's fine-tuning (about 8 minutes here). About 11 minutes a
fold seed on 2 cores with stage 2, 2 without.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from build_default_model import RECIPE, finetune_documents, training_documents, training_readmes  # noqa: E402

from repotag import Taxonomy  # noqa: E402
from repotag.model import TagModel, bundled_model_dir  # noqa: E402
from repotag.model._estimator import Calibration  # noqa: E402
from repotag.pipeline import SentenceEncoder, document_text, repository_name  # noqa: E402
from repotag.training import fold_splits  # noqa: E402
from repotag.training._trainer import fit_platt, nested_selection_report  # noqa: E402
from repotag.training.finetune import FinetuneParams, base_encoder_path, export_onnx, finetune_encoder  # noqa: E402

#: The six weight matrices of a MiniLM layer, in the order the ONNX graph multiplies by them.
LAYER_MATRICES = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                  "intermediate.dense", "output.dense")


def dequantized_checkpoint(onnx_dir: Path, output: Path) -> Path:
    """A Hugging Face fp32 checkpoint with the int8 ONNX encoder's weights, (q - zero point) x scale."""
    import onnx
    import torch
    from onnx import numpy_helper
    from transformers import AutoModel, AutoTokenizer

    graph = onnx.load(str(onnx_dir / "model.onnx")).graph
    arrays = {init.name: numpy_helper.to_array(init) for init in graph.initializer}

    def dequantized(name: str) -> np.ndarray:
        return (arrays[f"{name}_quantized"].astype(np.float32)
                - arrays[f"{name}_zero_point"].astype(np.float32)) * arrays[f"{name}_scale"]

    model = AutoModel.from_pretrained(str(base_encoder_path()))  # the architecture and the pooler
    state = model.state_dict()
    for key in state:
        name = f"encoder.{key}"  # the export wraps the model as `encoder`
        if name in arrays:
            state[key] = torch.tensor(arrays[name])
        elif f"{name}_quantized" in arrays:
            state[key] = torch.tensor(dequantized(name))
    matrices = [node.input[1].removesuffix("_quantized") for node in graph.node if node.op_type == "MatMulInteger"]
    if len(matrices) != len(LAYER_MATRICES) * model.config.num_hidden_layers:
        raise SystemExit(f"{onnx_dir}: {len(matrices)} quantized matrices, not a MiniLM encoder")
    for index, name in enumerate(matrices):
        layer, part = divmod(index, len(LAYER_MATRICES))
        state[f"encoder.layer.{layer}.{LAYER_MATRICES[part]}.weight"] = torch.tensor(dequantized(name).T.copy())
    model.load_state_dict(state)
    model.save_pretrained(str(output))
    AutoTokenizer.from_pretrained(str(base_encoder_path())).save_pretrained(str(output))
    return output


def stage_one(shared: Path, source: str, work: Path) -> Path:
    if source == "shipped":
        return dequantized_checkpoint(bundled_model_dir() / "encoder", work / "stage1")
    texts, labels, weights = finetune_documents(shared, 3.0)
    targets = TagModel.for_taxonomy(Taxonomy.default()).targets(labels)
    return finetune_encoder(texts, targets, work / "stage1", FinetuneParams(epochs=2.0), sample_weight=weights,
                            progress=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--seed", type=int, default=0, help="fold seed (the nested thresholds' folds use seed + 1)")
    parser.add_argument("--source", choices=("shipped", "rebuilt"), default="shipped")
    parser.add_argument("--no-finetune", action="store_true", help="the stage-1 encoder in every fold (a baseline)")
    parser.add_argument("--dev-weight", type=float, default=3.0, help="weight of the fit dev READMEs in stage 2")
    parser.add_argument("--awesome", type=int, default=2000, help="awesome rows mixed into stage 2")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--learning-rate", type=float, default=3e-5)
    parser.add_argument("--save-oof", type=Path, help="write the out-of-fold dev probabilities here (.npz)")
    args = parser.parse_args()

    started = time.time()
    work = Path(tempfile.mkdtemp(prefix="repotag-folds-"))
    taxonomy = Taxonomy.default()
    shipped = TagModel.load()
    documents = training_documents(args.shared, RECIPE["dev_weight"], RECIPE["train_weight"])
    texts = [d.text for d in documents]
    dev = np.array([i for i, d in enumerate(documents) if d.evaluate])
    awesome = [i for i, d in enumerate(documents) if not d.evaluate]
    shares = shipped.annotator_shares(shipped.targets([d.tags for d in documents]), [d.annotations for d in documents])
    readmes = training_readmes(args.shared)
    readme_texts = [document_text(r["readme"], repository_name(r["id"])) for r in readmes]
    readme_targets = shipped.targets([r["tags"] for r in readmes]).astype(np.float32)
    source = stage_one(args.shared, args.source, work)
    print(f"stage 1 ({args.source}) ready, {time.time() - started:.0f}s", file=sys.stderr)

    keys = taxonomy.keys
    logits, votes, cosines = (np.zeros((len(dev), len(keys))) for _ in range(3))
    trained = np.zeros((len(dev), len(keys)), dtype=bool)
    for fold, (fit, held) in enumerate(fold_splits(len(dev), 5, args.seed)):
        if args.no_finetune:
            encoder_dir = work / "stage1-onnx"
            if not encoder_dir.exists():
                export_onnx(source, encoder_dir)
        else:
            mixed = random.Random(fold).sample(awesome, args.awesome)
            stage_two = finetune_encoder(
                readme_texts + [texts[i] for i in dev[fit]] + [texts[i] for i in mixed],
                np.concatenate([readme_targets, shares[dev[fit]], shares[mixed]]),
                work / f"stage2-{fold}",
                FinetuneParams(epochs=args.epochs, learning_rate=args.learning_rate, seed=fold),
                sample_weight=[1.0] * len(readmes) + [args.dev_weight] * len(fit) + [1.0] * len(mixed),
                source=source, progress=None)
            encoder_dir = export_onnx(stage_two, work / f"stage2-{fold}-onnx")
        encoder = SentenceEncoder(encoder_dir)
        embeddings = encoder.encode(texts)
        rows = np.concatenate([awesome, dev[fit]])
        model = shipped.unfitted_copy()
        model.encoder = encoder  # tag texts are embedded by the fold's encoder too
        model.fit([texts[i] for i in rows], [documents[i].tags for i in rows], [documents[i].weight for i in rows],
                  embeddings[rows], 2, [documents[i].annotations for i in rows])
        logits[held], votes[held] = model.raw_outputs([texts[i] for i in dev[held]], embeddings[dev[held]])
        trained[np.ix_(held, [keys.index(k) for k in model.trained_tags])] = True
        cosines[held] = model.zero_shot_cosine(embeddings[dev[held]], [(k, model.describe(k)) for k in keys])
        print(f"fold {fold + 1} of 5 scored, {time.time() - started:.0f}s", file=sys.stderr)

    gold = [documents[i].tags for i in dev]
    targets = shipped.targets(gold)
    model.calibration = Calibration(fit_platt(logits[trained], targets[trained]), fit_platt(cosines.ravel(), targets.ravel()))
    oof = np.where(trained, model.head_probability(logits, votes), model.calibration.zero_shot_probability(cosines))
    ids = [documents[i].id for i in dev]
    report = nested_selection_report(oof, gold, ids, taxonomy, True, 3, 5, args.seed + 1)
    print(json.dumps({"source": args.source, "finetune_in_folds": not args.no_finetune, "seed": args.seed,
                      "nested": report.summary(), "seconds": round(time.time() - started)}))
    if args.save_oof:
        np.savez(args.save_oof, probabilities=oof, ids=np.array(ids), seed=args.seed)


if __name__ == "__main__":
    main()
