import json

import pytest

from repotag import Taxonomy, TaxonomyError
from repotag._taxonomy import Tag, tag_key


def test_default_taxonomy_is_the_bundled_list_exactly(shared):
    expected = json.loads((shared / "taxonomy" / "tags.json").read_text())
    assert Taxonomy.default().to_list() == expected


def test_default_keeps_trailing_spaces_and_has_descriptions():
    tax = Taxonomy.default()
    assert len(tax) == 90
    assert tax.get("game-engine").name == "game-engine "
    assert tax.get("declarative-gui").to_dict() == {"id": 8, "name": "declarative-gui "}
    assert all(tag.description for tag in tax)


def test_get_is_trimmed_and_case_insensitive():
    tax = Taxonomy.from_json([{"id": 1, "name": "Web-App "}])
    assert tax.get(" web-app").id == 1
    assert tax.get("nope") is None
    assert tag_key(" Web-App ") == "web-app"


def test_plain_list_of_names_gets_positional_ids():
    tax = Taxonomy.from_json(["cli", "ai"])
    assert tax.to_list() == [{"id": 1, "name": "cli"}, {"id": 2, "name": "ai"}]


def test_string_ids_and_descriptions_are_kept(tmp_path):
    path = tmp_path / "tags.json"
    path.write_text(json.dumps([{"id": "a1", "name": "Alpha", "description": "first"}]))
    tax = Taxonomy.from_file(path)
    assert tax[0] == Tag("a1", "Alpha")
    assert tax[0].description == "first"


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "taxonomy file is empty"),
        ("   \n", "taxonomy file is empty"),
        ("{not json", "taxonomy is not valid JSON: Expecting property name enclosed in double quotes at line 1"),
        ("[]", "taxonomy is empty: give at least one tag"),
        ('{"a": 1}', "taxonomy must be a JSON list of tags"),
        ('[{"id": 1, "name": "a"}, {"id": 2, "name": "A "}]', "duplicate tag name 'A'"),
        ('[{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]', "duplicate tag id 1"),
        ('[{"id": 1}]', "tag #1 has no name"),
        ('[{"id": 1, "name": "  "}]', "tag #1 has no name"),
        ('[{"name": "x"}]', "tag 'x' has no id"),
        ('[{"id": true, "name": "x"}]', "tag 'x' has an id that is not a number or string"),
        ("[3]", "tag #1 is neither a name nor an object with id and name"),
    ],
)
def test_bad_taxonomy_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "tags.json"
    path.write_text(content)
    with pytest.raises(TaxonomyError) as info:
        Taxonomy.from_file(path)
    assert str(info.value) == message


def test_missing_file():
    with pytest.raises(TaxonomyError, match="taxonomy file not found: /nonexistent.json"):
        Taxonomy.from_file("/nonexistent.json")


def test_taxonomy_size_limits():
    from repotag._taxonomy import MAX_TAG_DESCRIPTION_CHARS, MAX_TAG_NAME_CHARS, MAX_TAGS

    with pytest.raises(TaxonomyError, match=f"^taxonomy has {MAX_TAGS + 1} tags; at most {MAX_TAGS} are allowed$"):
        Taxonomy.from_json([f"t{i}" for i in range(MAX_TAGS + 1)])
    with pytest.raises(TaxonomyError, match=f"is longer than {MAX_TAG_NAME_CHARS} characters$"):
        Taxonomy.from_json(["x" * (MAX_TAG_NAME_CHARS + 1)])
    with pytest.raises(TaxonomyError, match=f"^description of tag 'a' is longer than {MAX_TAG_DESCRIPTION_CHARS}"):
        Taxonomy.from_json([{"id": 1, "name": "a", "description": "d" * (MAX_TAG_DESCRIPTION_CHARS + 1)}])
    with pytest.raises(TaxonomyError, match=r"^tag '\\udc80' is not valid Unicode \(lone surrogate\)$"):
        Taxonomy.from_json(["\udc80"])
    assert len(Taxonomy.from_json([f"t{i}" for i in range(MAX_TAGS)])) == MAX_TAGS
