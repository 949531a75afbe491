"""What an LLM is asked and how its answer is held to the rules: prompt templates, the JSON Schema, repairs.

Pure functions, no network: the LLM backend sends what :func:`render_prompt` and
:func:`response_format` build, and keeps only what :func:`read_answer` accepts.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from .._errors import ConfigError
from .._taxonomy import Tag, Taxonomy

#: Templates shipped in ``repotag/data``: ``default`` (written for LLMs), ``seed`` (the prompt users paste today).
BUILT_IN_TEMPLATES = {"default": "llm_prompt.txt", "seed": "llm_prompt_seed.txt"}
#: The placeholders a template may use (``string.Template`` syntax: ``$readme`` or ``${readme}``).
PLACEHOLDERS = {"readme", "name", "id", "max_tags", "tags", "tag_lines"}
_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?|\n?\s*```\s*$")


class AnswerError(ValueError):
    """The LLM's answer is not JSON of a usable shape (worth one retry)."""


def load_template(spec: str) -> Template:
    """A built-in template by name, or a template file; checked for its placeholders."""
    if spec in BUILT_IN_TEMPLATES:
        text = resources.files("repotag").joinpath("data").joinpath(BUILT_IN_TEMPLATES[spec]).read_text(encoding="utf-8")
    else:
        try:
            text = Path(spec).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read prompt template {spec!r} (built in: "
                              f"{', '.join(BUILT_IN_TEMPLATES)}): {getattr(exc, 'strerror', None) or exc}") from None
    template = Template(text)
    names = {m.group("named") or m.group("braced") for m in template.pattern.finditer(text)} - {None}
    if any(m.group("invalid") is not None for m in template.pattern.finditer(text)):
        raise ConfigError(f"prompt template {spec!r} has a '$' that is not a placeholder (write $$ for a dollar)")
    unknown = names - PLACEHOLDERS
    if unknown:
        raise ConfigError(f"prompt template {spec!r} uses unknown placeholder(s) {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(PLACEHOLDERS))})")
    if "readme" not in names:
        raise ConfigError(f"prompt template {spec!r} has no $readme placeholder")
    return template


def render_prompt(template: Template, readme: str, taxonomy: Taxonomy, max_tags: int, record_id: Any = None,
                  name: str | None = None) -> str:
    """The prompt for one README (already cut to size)."""
    lines = "\n".join(f"- {t.name.strip()}: {t.description}" if t.description else f"- {t.name.strip()}"
                      for t in taxonomy)
    return template.substitute(
        readme=readme, name=name or "this repository", id=json.dumps(record_id, ensure_ascii=False),
        max_tags=max_tags, tags=json.dumps(taxonomy.to_list(), ensure_ascii=False, separators=(",", ":")),
        tag_lines=lines,
    )


def response_format(kind: str, taxonomy: Taxonomy, max_tags: int) -> dict | None:
    """The ``response_format`` request field: a JSON Schema of the allowed answer, JSON mode, or none."""
    if kind == "json_schema":
        schema = {
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string", "enum": [t.name for t in taxonomy]},
                         "maxItems": max_tags},
            },
            "required": ["tags"],
            "additionalProperties": False,
        }
        return {"type": "json_schema", "json_schema": {"name": "repotag_tags", "strict": True, "schema": schema}}
    if kind == "json_object":
        return {"type": "json_object"}
    return None


@dataclass
class Answer:
    """The tags an answer names, held to the rules, and the repairs that took."""

    tags: list[Tag]
    repairs: Counter = field(default_factory=Counter)


def _parse_json(content: str) -> Any:
    text = _FENCE.sub("", content.strip())
    try:
        return json.loads(text)
    except ValueError:
        pass
    # Prose around the JSON ("Here are the tags: {...}"): the first object or list that parses.
    for match in re.finditer(r"[\[{]", text):
        try:
            value, _ = json.JSONDecoder().raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, (dict, list)):
            return value
    raise AnswerError(f"answer is not JSON: {content.strip()[:80]!r}")


def _named(item: Any) -> tuple[str | None, Any]:
    """The name and id an answer item gives: a name, an id, or an object with either."""
    if isinstance(item, str):
        return item, None
    if isinstance(item, dict):
        name = item.get("name", item.get("tag"))
        return (name if isinstance(name, str) else None), item.get("id")
    if isinstance(item, int) and not isinstance(item, bool):
        return None, item
    return None, None


def read_answer(content: str, taxonomy: Taxonomy, max_tags: int) -> Answer:
    """The taxonomy's tags an answer names, most relevant (first named) first.

    ``{"tags": [...]}`` or a bare list; items are names, ids or ``{"id", "name"}`` objects.
    Names match trimmed and case-insensitively; a name outside the list falls back to the
    item's id; anything else is dropped. Duplicates are removed and the list is cut to
    ``max_tags``. Each repair is counted. Raises :class:`AnswerError` for a shape it cannot read.
    """
    data = _parse_json(content)
    if isinstance(data, dict):
        data = data.get("tags")
    if not isinstance(data, list):
        raise AnswerError("answer has no list of tags")
    by_id = {str(t.id): t for t in taxonomy}
    repairs: Counter = Counter()
    chosen: list[Tag] = []
    for item in data:
        name, tag_id = _named(item)
        tag = taxonomy.get(name) if name is not None else None
        if tag is None and tag_id is not None and not isinstance(tag_id, bool):
            tag = by_id.get(str(tag_id))
        if tag is None:
            repairs["out_of_list"] += 1
            continue
        if name is not None and name != tag.name:
            repairs["renamed"] += 1  # case or spaces differ from the list's spelling
        if tag in chosen:
            repairs["duplicate"] += 1
            continue
        chosen.append(tag)
    if len(chosen) > max_tags:
        repairs["over_limit"] += len(chosen) - max_tags
        chosen = chosen[:max_tags]
    return Answer(chosen, repairs)


def rank_scores(tags: list[Tag], taxonomy: Taxonomy) -> list[float]:
    """Scores from the LLM's order, not invented confidences: the k-th tag named scores 1/k, the rest 0."""
    rank = {tag.key: position for position, tag in enumerate(tags, start=1)}
    return [1.0 / rank[t.key] if t.key in rank else 0.0 for t in taxonomy]
