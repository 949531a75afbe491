"""The reviewed-labels file: ``repotag train``'s label format plus who decided, when, and what was suggested.

Each decision is one JSON line, appended whole and flushed to disk at once::

    {"id": "owner/name", "readme": "...", "tags": ["cli", "rust"], "locked": true, "decision": "corrected",
     "suggested": [{"name": "cli", "score": 0.41}], "reviewer": "ana", "reviewed_at": "2026-12-02T18:00:00+00:00"}

A later line for the same id replaces an earlier one.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from .._errors import InputError
from .._taxonomy import Tag, Taxonomy
from ..batch._records import resume_key


def read_decisions(path: Path) -> dict[str, dict]:
    """Decisions by record key (the last one per id); a torn last line (a killed writer) is ignored."""
    decisions: dict[str, dict] = {}
    if not path.exists():
        return decisions
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                break  # torn by a kill mid-write: the decision it held was never confirmed
            try:
                row = json.loads(raw)
            except ValueError:
                raise InputError(f"{path}:{number}: not a JSON line") from None
            if not isinstance(row, dict) or "id" not in row or not isinstance(row.get("tags"), list):
                raise InputError(f"{path}:{number}: a reviewed label needs 'id' and a 'tags' list")
            decisions[resume_key(row["id"], None)] = row
    return decisions


def locked_tags(path: Path, taxonomy: Taxonomy) -> dict[str, list[Tag]]:
    """The tags a person set (``"locked": true``), by record key, as the taxonomy's tags."""
    if not path.exists():
        raise InputError(f"labels file not found: {path}")
    locked = {}
    for key, row in read_decisions(path).items():
        if row.get("locked") is not True:
            continue
        tags = [taxonomy.get(name) if isinstance(name, str) else None for name in row["tags"]]
        if None in tags:
            raise InputError(f"{path}: {row['id']!r} has a tag outside the taxonomy: {row['tags']}")
        locked[key] = tags
    return locked


def append_decision(path: Path, row: dict) -> None:
    """Append one decision, whole, flushed and synced: killing the process afterwards loses nothing."""
    line = json.dumps(row, ensure_ascii=False) + "\n"
    _cut_torn_tail(path)
    with open(path, "ab") as handle:
        handle.write(line.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())


def _cut_torn_tail(path: Path) -> None:
    """Remove a last line without its newline (a writer killed mid-line): it was never a decision."""
    if not path.exists() or not path.stat().st_size:
        return
    with open(path, "rb+") as handle:
        data = handle.read()
        if data.endswith(b"\n"):
            return
        handle.truncate(data.rfind(b"\n") + 1)


def review_stats(decisions: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Acceptance rate, and per tag how often a reviewer added it (missed) or removed it (wrong)."""
    reviewed = accepted = 0
    added: Counter = Counter()
    removed: Counter = Counter()
    for row in decisions:
        if "suggested" not in row:
            continue  # a plain label, not a review of suggestions
        reviewed += 1
        suggested = {s["name"] if isinstance(s, dict) else s for s in row["suggested"]}
        final = set(row["tags"])
        accepted += suggested == final
        added.update(final - suggested)
        removed.update(suggested - final)
    tags = sorted(set(added) | set(removed), key=lambda t: (-(added[t] + removed[t]), t))
    return {
        "reviewed": reviewed,
        "accepted": accepted,
        "corrected": reviewed - accepted,
        "acceptance_rate": round(accepted / reviewed, 4) if reviewed else None,
        "corrections": {tag: {"added": added[tag], "removed": removed[tag]} for tag in tags},
    }


def format_review_stats(stats: dict[str, Any]) -> str:
    """The review summary as text (for ``repotag eval``)."""
    if not stats["reviewed"]:
        return ""
    lines = [f"review: {stats['reviewed']} reviewed, {stats['accepted']} accepted as suggested, "
             f"{stats['corrected']} corrected (acceptance rate {stats['acceptance_rate']:.1%})"]
    if stats["corrections"]:
        lines.append(f"{'tag':<22}{'added':>8}{'removed':>9}")
        lines += [f"{tag:<22}{c['added']:>8}{c['removed']:>9}" for tag, c in stats["corrections"].items()]
    return "\n".join(lines)
