"""Model tests: the embedded default model, real weights (contract tests with a fake backend: test_tagger.py)."""

import json

import pytest

from repotag import ConfigError, InputError, Record, Taxonomy
from repotag.pipeline import MAX_README_BYTES

README = """# ripgrep
ripgrep is a line-oriented search tool that recursively searches the current directory for a regex pattern.
It is a command-line tool written in Rust.
"""


def test_contract_shape_and_rules(tagger):
    result = tagger.tag(README, id="6186")
    data = result.to_dict()
    assert list(data) == ["id", "tags"] and data["id"] == "6186"
    assert 1 <= len(data["tags"]) <= 3
    default = Taxonomy.default().to_list()
    assert all(tag in default for tag in data["tags"])
    assert len({t["id"] for t in data["tags"]}) == len(data["tags"])
    assert "cli" in [t["name"] for t in data["tags"]]
    assert json.loads(result.to_json()) == data


def test_scores_are_ordered_confidences(tagger):
    data = tagger.tag(README, max_tags=5).to_dict(scores=True)
    scores = [t["score"] for t in data["tags"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)


@pytest.mark.parametrize("record_id", [6186, "6186", None, "owner/repo"])
def test_id_is_echoed_with_its_type(tagger, record_id):
    assert tagger.tag(README, id=record_id).to_dict()["id"] == record_id


def test_max_tags_is_respected_and_checked(tagger):
    for limit in (1, 2):
        assert len(tagger.tag(README, max_tags=limit).tags) <= limit
    with pytest.raises(ConfigError, match="max_tags must be at least 1"):
        tagger.tag(README, max_tags=0)
    with pytest.raises(ConfigError, match="max_tags 91 exceeds the taxonomy size"):
        tagger.tag(README, max_tags=91)


def test_trailing_space_names_are_copied_exactly(tagger):
    text = "# Godot\nGodot is a game engine for 2D and 3D games, with an editor and a scripting language."
    names = [t["name"] for t in tagger.tag(text).to_dict()["tags"]]
    assert "game-engine " in names


@pytest.mark.parametrize("text", ["", "   \n\t ", b""])
def test_empty_text_gives_no_tags(tagger, text):
    assert tagger.tag(text, id="e").to_dict() == {"id": "e", "tags": []}


def test_binary_raises_and_records(tagger):
    binary = bytes(range(256)) * 10
    with pytest.raises(InputError):
        tagger.tag(binary)
    results = list(tagger.tag_many([("a", README), ("b", binary), {"id": "c"}], errors="record"))
    assert [r.ok for r in results] == [True, False, False]
    assert results[1].to_dict() == {"id": "b", "error": "input is binary, not text: give a README in UTF-8 or UTF-16"}
    assert results[2].to_dict() == {"id": "c", "error": "record has no 'readme' field"}


def test_tag_many_matches_tag_and_keeps_order(tagger):
    texts = [README, "# Redis\nRedis is an in-memory database and cache.", "A React UI component library."]
    many = list(tagger.tag_many(Record(t, i) for i, t in enumerate(texts)))
    assert [r.id for r in many] == [0, 1, 2]
    assert [r.to_dict() for r in many] == [tagger.tag(t, i).to_dict() for i, t in enumerate(texts)]


def test_custom_taxonomy_only_returns_its_tags(tagger):
    custom = Taxonomy.from_json([{"id": "x1", "name": "Search Tools"}, {"id": "x2", "name": "Cooking"}])
    data = tagger.tag(README, taxonomy=custom).to_dict()
    assert data["tags"][0] == {"id": "x1", "name": "Search Tools"}
    assert all(t in custom.to_list() for t in data["tags"])


def test_huge_readme_reads_a_capped_prefix_and_stays_correct(tagger):
    huge = README + "\n## Reference\n" + ("Search options for regex matching in files. " * 1_200_000)  # ~54 MB
    result = tagger.tag(huge).to_dict()
    assert result == tagger.tag(huge[:MAX_README_BYTES]).to_dict()
    assert "cli" in [t["name"] for t in result["tags"]]


def test_tiny_real_readmes(tagger, shared):
    lines = (shared / "data" / "edge" / "tiny-readmes.jsonl").read_text().splitlines()
    for row in map(json.loads, lines):
        data = tagger.tag(row["readme"], row["id"]).to_dict()
        assert data["id"] == row["id"] and len(data["tags"]) <= 3


def test_a_chinese_readme_is_read_for_its_meaning(tagger):
    shop = "# mall\n\nmall项目是一套电商系统，包括前台商城系统及后台管理系统，基于Spring Boot实现。"
    assert tagger.tag(shop).to_dict()["tags"][0]["name"] == "ecommerce"
    course = "# 教程\n\n面向初学者的机器学习入门教程和学习资料合集。"
    assert [t["name"] for t in tagger.tag(course).to_dict()["tags"]][:1] == ["learning-resource"]
