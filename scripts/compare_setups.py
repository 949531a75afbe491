"""Set-ups compared with the shipped recipe: each changes one thing and is scored as evaluate_dev.py scores it.

    python scripts/compare_setups.py --shared ../shared --setup NAME [--seed S ...] [--embeddings CACHE.npy]

Nested 5-fold cross-validation on the dev READMEs (thresholds chosen on other folds), the shipped hyper-parameters
and encoder; ``shipped`` reproduces ``scripts/evaluate_dev.py``. A set-up changes the documents' text, the model
class or the decoding of the out-of-fold probabilities. The README's issue-9 table records what each scored and
why none is shipped. About 2 minutes per set-up and fold seed on 2 cores, after encoding (30 s, or a cache).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from build_default_model import RECIPE, read_jsonl, training_documents, training_readmes  # noqa: E402

from repotag import Taxonomy  # noqa: E402
from repotag.model import TagModel  # noqa: E402
from repotag.pipeline._features import _TOKEN  # noqa: E402  (TF-IDF's own word pattern)
from repotag.training import LabelledDocument, Trainer, nested_selection_report  # noqa: E402

_FENCE = re.compile(r"^ {0,3}(```|~~~)([^\n]*)\n(.*?)(^ {0,3}\1[^\n]*$|\Z)", re.MULTILINE | re.DOTALL)
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_COMMAND = re.compile(r"^(pip3?|pipx|uv|poetry|conda|npm|npx|yarn|pnpm|bun|cargo|go|brew|apt(-get)?|dnf|yum|pacman|"
                      r"snap|flatpak|winget|scoop|choco|gem|composer|dotnet|docker|docker-compose|podman|kubectl|"
                      r"helm|curl|wget|git|make|cmake|python3?|node|deno|java|mvn|gradle|terraform|ansible)$")
_IMPORT = re.compile(r"^\s*(import\s+\w|from\s+\w[\w.]*\s+import|const\s+\w+\s*=\s*require\(|#include\s*<|"
                     r"use\s+\w+(::\w+)*;|require\s+['\"]|using\s+\w)", re.MULTILINE)
#: Substrings of badge and link targets that say where a project is published, and the word each adds.
_HOSTS = {"pypi": "pypi", "npmjs": "npm", "npm/v": "npm", "crates.io": "crates", "pkg.go.dev": "godoc",
          "godoc.org": "godoc", "hub.docker": "dockerhub", "docker/pulls": "dockerhub", "maven": "maven",
          "nuget": "nuget", "rubygems": "gem", "packagist": "packagist", "artifacthub": "helm",
          "marketplace.visualstudio": "vscode", "chrome.google.com/webstore": "chromeext", "apps.apple.com": "appstore",
          "play.google.com": "playstore", "f-droid": "fdroid", "flathub": "flathub", "snapcraft": "snap",
          "homebrew": "brew", "formulae.brew": "brew", "readthedocs": "rtd", "discord": "discord", "colab": "colab",
          "huggingface.co": "hf", "arxiv": "arxiv", "demo": "demo", "vercel": "vercel", "heroku": "heroku",
          "codecov": "cov"}
_RAW_CHARS = 60_000


def structure_words(readme: str, headings: bool = True) -> str:
    """Words for what cleaning drops: code-block languages, shell commands, imports, badge hosts, headings."""
    readme = readme[:_RAW_CHARS]
    found = set()
    for block in _FENCE.finditer(readme):
        language = re.sub(r"[^a-z0-9]", "", (block.group(2).split() or [""])[0].lower())
        if language:
            found.add(f"zzlang{language}")
        if _IMPORT.search(block.group(3)):
            found.add("zzcodeimport")
        for line in block.group(3).splitlines()[:40]:
            parts = line.strip().lstrip("$>#% ").split()
            parts = parts[1:] if parts[:1] == ["sudo"] else parts
            if not parts or not _COMMAND.match(parts[0]):
                continue
            command = parts[0].replace("-", "")
            found.add(f"zzcmd{command}")
            if len(parts) > 1 and re.fullmatch(r"[a-z-]+", parts[1]):
                found.add(f"zzcmd{command}{parts[1].replace('-', '')}")
            if command == "npm" and ("-g" in parts or "--global" in parts):
                found.add("zzcmdnpmglobal")
    lower = readme.lower()
    found.update(f"zzbadge{word}" for host, word in _HOSTS.items() if host in lower)
    if headings:
        for heading in _HEADING.findall(readme)[:40]:
            words = re.findall(r"[a-z]+", heading.lower())
            if 1 <= len(words) <= 3:
                found.add("zzhead" + "".join(words))
    return " ".join(sorted(found))


def with_structure_words(documents, readmes, headings=True):
    return [replace(d, text=f"{d.text} {structure_words(readmes[d.id], headings)}") if d.evaluate else d
            for d in documents]


def with_lead_words(documents, readmes, chars=300):
    # One-liners are all lead: the prefixed words' heads learn from 12,719 awesome rows and read a README's opening.
    return [replace(d, text=d.text + " . " + " ".join("zl" + w for w in _TOKEN.findall(d.text[:chars].lower())))
            for d in documents]


class SoftMemoryModel(TagModel):
    """The neighbour memory holds the annotators' shares of each tag instead of the majority's tags."""

    def fit(self, documents, labels, sample_weight=None, embeddings=None, n_jobs=1, annotations=None,
            base_probabilities=None):
        super().fit(documents, labels, sample_weight, embeddings, n_jobs, annotations, base_probabilities)
        if self.memory is not None and annotations is not None:
            self.memory_labels = self.annotator_shares(self.targets(labels), annotations).astype(np.float32)
        return self


def cooccurrence_lift(shared: Path, taxonomy: Taxonomy) -> np.ndarray:
    """log P(t | s) / P(t) over the awesome rows' and training READMEs' labels (no dev label), zero diagonal."""
    model = TagModel.for_taxonomy(taxonomy)
    labels = [row["tags"] for row in read_jsonl(shared / "data" / "train" / "awesome-labelled.jsonl")]
    labels += [row["tags"] for row in training_readmes(shared)]
    targets = model.targets(labels).astype(float)
    prior = (targets.sum(0) + 1) / (len(targets) + 2)
    given = (targets.T @ targets + 2 * prior[None]) / (targets.sum(0)[:, None] + 2)
    lift = np.log(given / prior[None])
    np.fill_diagonal(lift, 0.0)
    return lift


def with_cooccurrence(probabilities: np.ndarray, lift: np.ndarray, strength: float) -> np.ndarray:
    """Every tag but the top one moved on the logit scale by ``strength`` x its lift given the top tag."""
    clipped = np.clip(probabilities, 1e-6, 1 - 1e-6)
    top = probabilities.argmax(axis=1)
    adjusted = 1 / (1 + np.exp(-(np.log(clipped / (1 - clipped)) + strength * lift[top])))
    rows = np.arange(len(probabilities))
    adjusted[rows, top] = probabilities[rows, top]
    return adjusted


@dataclass(frozen=True)
class Setup:
    documents: Callable | None = None
    model: type[TagModel] = TagModel
    cooccurrence: float = 0.0
    max_tokens: int | None = None


SETUPS = {
    "shipped": Setup(),
    "structure-words": Setup(documents=with_structure_words),
    "structure-words-no-headings": Setup(documents=lambda d, r: with_structure_words(d, r, headings=False)),
    "lead-words": Setup(documents=with_lead_words),
    "soft-memory": Setup(model=SoftMemoryModel),
    "cooccurrence-0.1": Setup(cooccurrence=0.1),
    "cooccurrence-0.2": Setup(cooccurrence=0.2),
    "encoder-64-tokens": Setup(max_tokens=64),
    "encoder-48-tokens": Setup(max_tokens=48),
}


def embeddings_for(documents: list[LabelledDocument], shipped: TagModel, max_tokens: int | None,
                   cache: Path | None) -> np.ndarray:
    if max_tokens is None and cache is not None and cache.exists():
        return np.load(cache)
    encoder = shipped.encoder if max_tokens is None else type(shipped.encoder)(shipped.encoder.directory, max_tokens)
    embeddings = encoder.encode([d.text for d in documents])
    if max_tokens is None and cache is not None:
        np.save(cache, embeddings)
    return embeddings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--setup", choices=sorted(SETUPS), default="shipped")
    parser.add_argument("--seed", type=int, nargs="+", default=[0], help="fold seeds (nested folds use seed + 1)")
    parser.add_argument("--embeddings", type=Path, help="cache of the shipped encoder's vectors (written if absent)")
    args = parser.parse_args()

    setup, taxonomy, shipped = SETUPS[args.setup], Taxonomy.default(), TagModel.load()
    documents = training_documents(args.shared, RECIPE["dev_weight"], RECIPE["train_weight"])
    # Encoded before a set-up adds its words: they are for TF-IDF, and the embeddings stay the shipped ones.
    embeddings = embeddings_for(documents, shipped, setup.max_tokens, args.embeddings)
    if setup.documents is not None:
        readmes = {row["id"]: row["readme"] for row in read_jsonl(args.shared / "data" / "dev" / "readmes.jsonl")}
        documents = setup.documents(documents, readmes)
    dev = [d for d in documents if d.evaluate]
    gold, ids = [d.tags for d in dev], [d.id for d in dev]
    lift = cooccurrence_lift(args.shared, taxonomy) if setup.cooccurrence else None
    for seed in args.seed:
        model = setup.model.for_taxonomy(taxonomy, **asdict(shipped.params))
        trainer = Trainer(folds=5, seed=seed, calibrate_zero_shot=True, n_jobs=2)
        probabilities = trainer.fit(model, documents, taxonomy, embeddings).oof_probabilities
        if lift is not None:
            probabilities = with_cooccurrence(probabilities, lift, setup.cooccurrence)
        report = nested_selection_report(probabilities, gold, ids, taxonomy, per_tag=True, seed=seed + 1)
        summary = {k: round(v, 4) for k, v in report.summary().items() if isinstance(v, float)}
        print(json.dumps({"setup": args.setup, "seed": seed, "nested": summary}), flush=True)


if __name__ == "__main__":
    main()
