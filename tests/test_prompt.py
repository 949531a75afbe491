import pytest

from conftest import make_prompt
from repotag import PromptError, parse_prompt


def test_parses_readme_id_limit_and_taxonomy():
    prompt = parse_prompt(make_prompt("A CLI tool\n# Tool\nText", record_id='"6186"', limit=2))
    assert prompt.readme == "A CLI tool\n# Tool\nText"
    assert prompt.id == "6186"
    assert prompt.max_tags == 2
    assert prompt.taxonomy.to_list() == [
        {"id": 17, "name": "ai"}, {"id": 4, "name": "cli"}, {"id": 81, "name": "game-engine "}
    ]


def test_numeric_id_keeps_its_type_and_missing_header_is_fine():
    text = make_prompt("readme", record_id="77").replace("AI prompts\n", "")
    prompt = parse_prompt(text)
    assert prompt.id == 77
    assert prompt.readme == "readme"


def test_readme_containing_json_and_quotes_is_kept_whole():
    readme = 'Use {"id": 1, "tags": []} and say "at most" once.'
    assert parse_prompt(make_prompt(readme)).readme == readme


@pytest.mark.parametrize(
    "text, message",
    [
        ("just a README", "not a tagging prompt: no 'Assign \"at most N tags\"' instruction found"),
        ('base on x", Assign "at most 3 tags" to the expected json: {"id":"1","tags":[]}',
         "prompt has no tag list (expected 'tags list I provide: [...]')"),
        (make_prompt("x", tags='[{"id":1,"name":"a"},{"id":1,"name":"b"}]'),
         "prompt tag list is invalid: duplicate tag id 1"),
        (make_prompt("x", limit=0), "prompt asks for at most 0 tags"),
        (make_prompt("x", tags='[{"id":1,"name":"a"'), "prompt holds malformed JSON"),
    ],
)
def test_bad_prompts(text, message):
    with pytest.raises(PromptError) as info:
        parse_prompt(text)
    assert str(info.value).startswith(message)


def test_all_shipped_example_prompts(shared):
    ids = []
    for path in sorted((shared / "examples" / "prompts").glob("*.txt")):
        prompt = parse_prompt(path.read_text(encoding="utf-8"))
        assert len(prompt.taxonomy) == 90 and prompt.max_tags == 3
        assert len(prompt.readme) > 1000 and "Assign" not in prompt.readme[-200:]
        ids.append(prompt.id)
    assert ids == ["6186", "5983", "7462", "4436", "1510"]


def test_unusable_limits_and_long_space_runs():
    huge = make_prompt("A game engine.").replace("at most 3 tags", "at most " + "1" * 5000 + " tags")
    with pytest.raises(PromptError, match=r"^prompt asks for at most 111111111111\.\.\. tags: not a usable tag limit$"):
        parse_prompt(huge)
    spaced = make_prompt("A game engine." + " " * 50_000)
    assert parse_prompt(spaced).readme == "A game engine." and parse_prompt(spaced).max_tags == 3
