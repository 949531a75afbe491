"""Parsing the tagging prompts users send to LLMs today.

The format (see the examples shipped with the docs)::

    AI prompts
    base on <README text>
    ", Assign "at most 3 tags" to the expected json: {"id":"6186","tags":[]} "only from the tags
    list I provide: [{"id":77,"name":"3d"}, ...]" returns me the "expected json"

Everything before the instruction is the README; the instruction holds the
limit, the id to echo and the taxonomy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ._errors import PromptError, TaxonomyError
from ._taxonomy import Taxonomy

# Anchored on the word "Assign": a leading optional-space pattern would make the
# search quadratic in a long run of spaces.
_INSTRUCTION = re.compile(r'Assign\s+"?at\s+most\s+(\d+)\s+tags?"?', re.IGNORECASE)
#: Digits read from the limit; anything longer is not a tag count.
_MAX_LIMIT_DIGITS = 6
_TAG_LIST_LEAD = re.compile(r"tags?\s+list[^\[]{0,40}?:?\s*(?=\[)", re.IGNORECASE)
_EXPECTED = re.compile(r'\{\s*"id"\s*:')
_HEADER = re.compile(r"^\s*(AI prompts?\s*\n)?\s*(based? on\s+)?", re.IGNORECASE)


@dataclass(frozen=True)
class TaggingPrompt:
    """What a tagging prompt asks for."""

    readme: str
    id: Any
    taxonomy: Taxonomy
    max_tags: int


def _json_at(text: str, start: int) -> tuple[Any, int]:
    try:
        return json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise PromptError(f"prompt holds malformed JSON at character {exc.pos}: {exc.msg}") from None


def parse_prompt(text: str) -> TaggingPrompt:
    """Extract README, id, taxonomy and tag limit from a tagging prompt.

    Raises :class:`PromptError` when the prompt has no tag list or no limit.
    """
    instructions = list(_INSTRUCTION.finditer(text))
    if not instructions:
        raise PromptError('not a tagging prompt: no \'Assign "at most N tags"\' instruction found')
    instruction = instructions[-1]
    digits = instruction.group(1)
    if len(digits) > _MAX_LIMIT_DIGITS:
        raise PromptError(f"prompt asks for at most {digits[:12]}... tags: not a usable tag limit")
    max_tags = int(digits)
    if max_tags < 1:
        raise PromptError("prompt asks for at most 0 tags")
    tail = text[instruction.end():]

    lead = _TAG_LIST_LEAD.search(tail)
    if not lead:
        raise PromptError("prompt has no tag list (expected 'tags list I provide: [...]')")
    tag_list, _ = _json_at(tail, lead.end())
    try:
        taxonomy = Taxonomy.from_json(tag_list)
    except TaxonomyError as exc:
        raise PromptError(f"prompt tag list is invalid: {exc}") from None

    record_id = None
    expected = _EXPECTED.search(tail, 0, lead.start())
    if expected:
        template, _ = _json_at(tail, expected.start())
        if isinstance(template, dict):
            record_id = template.get("id")

    # The README ends where the instruction's `", ` begins.
    readme = text[: instruction.start()].rstrip().removesuffix(",").rstrip().removesuffix('"')
    readme = _HEADER.sub("", readme, count=1)
    return TaggingPrompt(readme=readme.strip(), id=record_id, taxonomy=taxonomy, max_tags=max_tags)
