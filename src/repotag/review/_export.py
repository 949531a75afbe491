"""The reviewed set as import files for Label Studio and Argilla, for teams that already label there."""

from __future__ import annotations

from typing import Any, Iterable

from ..pipeline import document_text, repository_name


def _text(row: dict) -> str:
    return document_text(str(row.get("readme", "")), repository_name(row.get("id")))


def label_studio_tasks(decisions: Iterable[dict], model_version: str = "repotag") -> list[dict[str, Any]]:
    """Label Studio tasks: the reviewer's tags as an annotation, the model's as a prediction.

    For a labeling config with ``<Text name="text" value="$text"/>`` and
    ``<Choices name="tags" toName="text" choice="multiple">`` holding the taxonomy's names.
    """
    def choices(names: list[str]) -> list[dict]:
        return [{"from_name": "tags", "to_name": "text", "type": "choices", "value": {"choices": names}}]

    tasks = []
    for row in decisions:
        suggested = row.get("suggested", [])
        task: dict[str, Any] = {
            "data": {"text": _text(row), "repository": row["id"]},
            "annotations": [{"result": choices(row["tags"]), "completed_by": row.get("reviewer"),
                             "created_at": row.get("reviewed_at")}],
        }
        if suggested:
            task["predictions"] = [{"model_version": model_version, "result": choices([s["name"] for s in suggested]),
                                    "score": max(s["score"] for s in suggested)}]
        tasks.append(task)
    return tasks


def argilla_records(decisions: Iterable[dict], agent: str = "repotag") -> list[dict[str, Any]]:
    """Argilla records (``rg.Record`` dictionaries) for a dataset with a text field ``text`` and a
    ``multi_label_selection`` question ``tags`` over the taxonomy: the model's tags as a suggestion,
    the reviewer's as a submitted response."""
    records = []
    for row in decisions:
        suggested = row.get("suggested", [])
        record: dict[str, Any] = {
            "id": str(row["id"]),
            "fields": {"text": _text(row)},
            "metadata": {"repository": str(row["id"])},
            "responses": {"tags": [{"value": row["tags"], "user_id": row.get("reviewer"), "status": "submitted"}]},
        }
        if suggested:
            record["suggestions"] = {"tags": {"value": [s["name"] for s in suggested],
                                              "score": [s["score"] for s in suggested], "agent": agent}}
        records.append(record)
    return records


EXPORTS = {"label-studio": label_studio_tasks, "argilla": argilla_records}
