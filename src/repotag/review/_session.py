"""A review session: the queue of suggestions, each decision written at once, and a model that learns from them."""

from __future__ import annotations

import getpass
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._errors import InputError, RepotagError
from .._rules import ScoredTag
from .._tagger import Record, Tagger
from ..batch._records import read_records, resume_key
from ..pipeline import as_text, document_text, repository_name
from ._labels import append_decision, read_decisions, review_stats

#: Unreviewed READMEs re-scored after each decision: the ones the reviewer sees next.
RESCORED_AFTER_DECISION = 20
#: Orders the queue can take.
ORDERS = ("confidence", "tag")


@dataclass
class Item:
    """One README to review: the model's suggestions for it, or the reviewed tags."""

    id: Any
    key: str
    readme: str
    suggested: list[ScoredTag] = field(default_factory=list)

    @property
    def name(self) -> str:
        return repository_name(self.id) or str(self.id)

    @property
    def confidence(self) -> float:
        """The top suggestion's score (0 when nothing was suggested): the queue's order."""
        return max((t.score for t in self.suggested), default=0.0)


def read_results(path: Path, tagger: Tagger) -> list[tuple[Any, str, list[ScoredTag]]]:
    """``repotag batch --scores`` output: (id, key, suggestions) per line; error lines suggest nothing."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read results {path}: {getattr(exc, 'strerror', None) or exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise InputError(f"{path}:{number}: not a JSON line") from None
        if not isinstance(row, dict) or "id" not in row:
            raise InputError(f"{path}:{number}: a result needs an 'id'")
        suggested = []
        for item in row.get("tags") or []:
            tag = tagger.taxonomy.get(item.get("name", "")) if isinstance(item, dict) else None
            if tag is None:
                raise InputError(f"{path}:{number}: tag {item!r} is not in the taxonomy")
            if "score" not in item:
                raise InputError(f"{path}:{number}: results need scores: run 'repotag batch ... --scores'")
            suggested.append(ScoredTag(tag, float(item["score"])))
        rows.append((row["id"], resume_key(row["id"], row.get("line")), suggested))
    return rows


class ReviewSession:
    """The queue (least confident first), the decisions file, and the model's session memory.

    Every decision is appended to ``labels`` before it is acknowledged. A decision also joins
    the model's neighbour memory (embedded backend), and the next unreviewed READMEs are
    re-scored with it. Reopening a session re-reads ``labels``: the queue resumes after the
    last decision, and the memory relearns the decisions made so far.
    """

    def __init__(self, results: Path, readmes: Path, labels: Path, tagger: Tagger, reviewer: str | None = None):
        self.tagger, self.labels, self.taxonomy = tagger, labels, tagger.taxonomy
        self.reviewer = reviewer or getpass.getuser()
        texts = {}
        for record in read_records(readmes):
            try:
                texts[record.key] = as_text(record.readme) if record.error is None else None
            except RepotagError:
                texts[record.key] = None  # unreadable: nothing to review
        texts = {key: text for key, text in texts.items() if text is not None}
        self.items: dict[str, Item] = {}
        self.missing = 0  # results whose README the input does not hold
        for record_id, key, suggested in read_results(results, tagger):
            if key in texts:
                self.items[key] = Item(record_id, key, texts[key], suggested)
            else:
                self.missing += 1
        if not self.items:
            raise InputError(f"no result of {results} has its README in {readmes}")
        self.decisions = {k: v for k, v in read_decisions(labels).items() if k in self.items}
        self._skipped: list[str] = []
        self._lock = threading.Lock()
        self._reviewed_vectors: list[tuple[str, Any]] = []  # (key, embedding) of decisions, for "why"
        self._learn([self.items[k] for k in self.decisions])

    # ---- the queue ---------------------------------------------------------------
    def queue(self, order: str = "confidence", tag: str | None = None, include_reviewed: bool = False) -> list[Item]:
        """Items to review: least confident first, or those suggesting ``tag``; skipped ones last."""
        items = [i for i in self.items.values() if include_reviewed or i.key not in self.decisions]
        if order == "tag" and tag:
            wanted = self.taxonomy.get(tag)
            items = [i for i in items if wanted and any(s.tag == wanted for s in i.suggested)]
        skipped = {key: n for n, key in enumerate(self._skipped)}
        return sorted(items, key=lambda i: (i.key in skipped, skipped.get(i.key, 0), i.confidence))

    def skip(self, key: str) -> None:
        """Move an item to the end of this session's queue (nothing is written)."""
        self._item(key)
        with self._lock:
            if key in self._skipped:
                self._skipped.remove(key)
            self._skipped.append(key)

    def decide(self, key: str, names: list[str]) -> dict:
        """Record the reviewer's tags for an item: appended to the labels file before returning."""
        item = self._item(key)
        tags = []
        for name in names:
            tag = self.taxonomy.get(name) if isinstance(name, str) else None
            if tag is None:
                raise InputError(f"tag {name!r} is not in the taxonomy")
            if tag not in tags:
                tags.append(tag)
        if len(tags) > self.tagger.max_tags:
            raise InputError(f"at most {self.tagger.max_tags} tags")
        suggested = [{"name": s.tag.name, "score": round(s.score, 4)} for s in item.suggested]
        row = {
            "id": item.id, "readme": item.readme, "tags": [t.name for t in tags], "locked": True,
            "decision": "accepted" if {t.name for t in tags} == {s["name"] for s in suggested} else "corrected",
            "suggested": suggested, "reviewer": self.reviewer,
            "reviewed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        with self._lock:
            append_decision(self.labels, row)
            self.decisions[key] = row
            if key in self._skipped:
                self._skipped.remove(key)
        self._learn([item])
        self._rescore_next()
        return row

    def _item(self, key: str) -> Item:
        if key not in self.items:
            raise InputError(f"no item {key!r} in this review")
        return self.items[key]

    # ---- what the page shows ---------------------------------------------------------
    def progress(self) -> dict[str, Any]:
        return {"reviewed": len(self.decisions), "total": len(self.items), **review_stats(self.decisions.values())}

    def view(self, item: Item) -> dict[str, Any]:
        """An item as the page shows it: the text the model read, suggestions with their reasons, the decision."""
        text = document_text(item.readme, item.name)
        model = self._model()
        read = model.encoder.read_chars(text) if model is not None else len(text)
        keys = [s.tag.key for s in item.suggested]
        phrases = model.phrases(text, keys) if model is not None else {}
        decision = self.decisions.get(item.key)
        similar = self._similar_reviewed(item, text)
        return {
            "key": item.key, "id": item.id, "name": item.name, "read": text[:read], "rest": text[read:],
            "confidence": item.confidence,
            "suggested": [{"name": s.tag.name, "score": round(s.score, 3), "phrases": phrases.get(s.tag.key, []),
                           "neighbours": [self.items[k].name for k in similar
                                          if s.tag.name in self.decisions[k]["tags"]][:2]}
                          for s in item.suggested],
            "tags": decision["tags"] if decision else [s.tag.name for s in item.suggested],
            "locked": bool(decision),
        }

    def _similar_reviewed(self, item: Item, text: str) -> list[str]:
        """Keys of the reviewed READMEs like this one (cosine at least 0.5), most alike first."""
        model = self._model()
        if model is None or not self._reviewed_vectors:
            return []
        vector = model.embed([text])[0]  # once per view, whatever the number of suggestions
        ranked = sorted(((float(v @ vector), k) for k, v in self._reviewed_vectors if k != item.key), reverse=True)
        return [k for similarity, k in ranked if similarity >= 0.5]

    # ---- learning from decisions -----------------------------------------------------------
    def _model(self):
        """The embedded model, when the backend is one: it can learn in session and say why."""
        model = getattr(self.tagger.backend, "model", None)
        return model if hasattr(model, "remember") else None

    def _learn(self, items: list[Item]) -> None:
        model = self._model()
        if model is None or not items:
            return
        vectors = model.embed([document_text(i.readme, i.name) for i in items])
        model.remember(vectors, [self.decisions[i.key]["tags"] for i in items])
        self._reviewed_vectors += [(i.key, v) for i, v in zip(items, vectors)]

    def _rescore_next(self) -> None:
        """Re-score the next unreviewed items with what the model now remembers."""
        if self._model() is None:
            return
        upcoming = self.queue()[:RESCORED_AFTER_DECISION]
        records = [Record(i.readme, i.id) for i in upcoming]
        for item, result in zip(upcoming, self.tagger.tag_many(records, errors="record")):
            if result.ok:
                item.suggested = result.tags
