"""Taxonomies: the controlled list of tags a user allows.

A tag is copied into results exactly as the user gave it (id type and name, a
trailing space included); matching between tags uses a normalised key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, Union

from ._errors import TaxonomyError
from ._unicode import lone_surrogate_at

TagId = Union[int, str]

#: Limits on a taxonomy, wherever it comes from (file, prompt, HTTP request): each tag is
#: embedded for zero-shot scoring, so an unbounded list is unbounded work and memory.
MAX_TAGS = 2_000
#: Characters of a tag's name, and of its description.
MAX_TAG_NAME_CHARS = 200
MAX_TAG_DESCRIPTION_CHARS = 2_000


def tag_key(name: str) -> str:
    """The form under which tag names are compared: trimmed, case-folded."""
    return name.strip().casefold()


@dataclass(frozen=True)
class Tag:
    """One tag of a taxonomy, as the user wrote it."""

    id: TagId
    name: str
    description: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        return tag_key(self.name)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


class Taxonomy(Sequence[Tag]):
    """An ordered, validated list of tags with unique ids and names."""

    def __init__(self, tags: Iterable[Tag]):
        self._tags = tuple(tags)
        if not self._tags:
            raise TaxonomyError("taxonomy is empty: give at least one tag")
        if len(self._tags) > MAX_TAGS:
            raise TaxonomyError(f"taxonomy has {len(self._tags)} tags; at most {MAX_TAGS} are allowed")
        self._by_key: dict[str, Tag] = {}
        seen_ids: set[TagId] = set()
        for tag in self._tags:
            if not isinstance(tag.name, str) or not tag.name.strip():
                raise TaxonomyError(f"tag with id {tag.id!r} has no name")
            if len(tag.name) > MAX_TAG_NAME_CHARS:
                raise TaxonomyError(f"tag name {tag.name[:40]!r}... is longer than {MAX_TAG_NAME_CHARS} characters")
            if len(tag.description) > MAX_TAG_DESCRIPTION_CHARS:
                raise TaxonomyError(f"description of tag {tag.name.strip()!r} is longer than "
                                    f"{MAX_TAG_DESCRIPTION_CHARS} characters")
            if lone_surrogate_at(tag.name + tag.description + (tag.id if isinstance(tag.id, str) else "")) is not None:
                raise TaxonomyError(f"tag {tag.name.strip()!r} is not valid Unicode (lone surrogate)")
            if tag.key in self._by_key:
                raise TaxonomyError(f"duplicate tag name {tag.name.strip()!r}")
            if tag.id in seen_ids:
                raise TaxonomyError(f"duplicate tag id {tag.id!r}")
            self._by_key[tag.key] = tag
            seen_ids.add(tag.id)

    # Sequence protocol
    def __getitem__(self, index):  # type: ignore[override]
        return self._tags[index]

    def __len__(self) -> int:
        return len(self._tags)

    def __iter__(self) -> Iterator[Tag]:
        return iter(self._tags)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Taxonomy) and self._tags == other._tags

    def __hash__(self) -> int:
        return hash(self._tags)

    def __repr__(self) -> str:
        return f"Taxonomy({len(self)} tags)"

    @property
    def keys(self) -> list[str]:
        return [tag.key for tag in self._tags]

    def get(self, name: str) -> Tag | None:
        """The tag whose name matches ``name`` (trimmed, case-insensitive)."""
        return self._by_key.get(tag_key(name))

    def to_list(self) -> list[dict[str, Any]]:
        return [tag.to_dict() for tag in self._tags]

    def with_descriptions(self, descriptions: dict[str, str]) -> "Taxonomy":
        """A copy where tags without a description take one from ``descriptions`` (by key)."""
        return Taxonomy(
            Tag(t.id, t.name, t.description or descriptions.get(t.key, "")) for t in self._tags
        )

    # Constructors
    @classmethod
    def from_json(cls, data: Any) -> "Taxonomy":
        """Build from parsed JSON: a list of ``{"id", "name"[, "description"]}`` objects or of names.

        A plain list of names gets ids 1, 2, 3... in list order.
        """
        if isinstance(data, dict) and isinstance(data.get("tags"), list):
            data = data["tags"]
        if not isinstance(data, list):
            raise TaxonomyError("taxonomy must be a JSON list of tags")
        tags = []
        for position, item in enumerate(data, start=1):
            if isinstance(item, str):
                tags.append(Tag(position, item))
            elif isinstance(item, dict):
                name = item.get("name")
                if not isinstance(name, str) or not name.strip():
                    raise TaxonomyError(f"tag #{position} has no name")
                if "id" not in item:
                    raise TaxonomyError(f"tag {name.strip()!r} has no id")
                tag_id = item["id"]
                if isinstance(tag_id, bool) or not isinstance(tag_id, (int, str)):
                    raise TaxonomyError(f"tag {name.strip()!r} has an id that is not a number or string")
                description = item.get("description") or ""
                if not isinstance(description, str):
                    raise TaxonomyError(f"tag {name.strip()!r} has a description that is not a string")
                tags.append(Tag(tag_id, name, description))
            else:
                raise TaxonomyError(f"tag #{position} is neither a name nor an object with id and name")
        return cls(tags)

    @classmethod
    def from_string(cls, text: str) -> "Taxonomy":
        if not text.strip():
            raise TaxonomyError("taxonomy file is empty")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TaxonomyError(f"taxonomy is not valid JSON: {exc.msg} at line {exc.lineno}") from None
        return cls.from_json(data)

    @classmethod
    def from_file(cls, path: str | Path) -> "Taxonomy":
        """Read a taxonomy JSON file."""
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise TaxonomyError(f"taxonomy file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TaxonomyError(f"cannot read taxonomy file {path}: {exc}") from None
        return cls.from_string(text)

    @classmethod
    def default(cls) -> "Taxonomy":
        """The bundled 90-tag default taxonomy, with the package's tag descriptions."""
        return _default_taxonomy()


def _read_package_json(name: str) -> Any:
    return json.loads(resources.files("repotag").joinpath("data").joinpath(name).read_text(encoding="utf-8"))


def default_descriptions() -> dict[str, str]:
    """The package's own one-line description of each default tag, by tag key."""
    return {tag_key(k): v for k, v in _read_package_json("descriptions.json").items()}


_DEFAULT: Taxonomy | None = None


def _default_taxonomy() -> Taxonomy:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Taxonomy.from_json(_read_package_json("tags.json")).with_descriptions(default_descriptions())
    return _DEFAULT
