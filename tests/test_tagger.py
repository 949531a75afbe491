"""Contract tests of the Tagger: exact outputs from a fake backend with fixed scores, no model weights."""

import json

import pytest

from repotag import ConfigError, DecisionPolicy, InputError, ModelError, Record, Tagger, Taxonomy
from repotag.backends import FixedScores

TAX = Taxonomy.from_json([
    {"id": 17, "name": "ai"}, {"id": 4, "name": "cli"}, {"id": 81, "name": "game-engine "}, {"id": "x", "name": "rust"},
])
SCORES = {"cli": 0.9, "rust": 0.6, "ai": 0.3, "game-engine": 0.1}


def tagger(scores=SCORES, **policy) -> Tagger:
    return Tagger(FixedScores(scores, DecisionPolicy(**policy), taxonomy=TAX))


def test_tags_are_the_policy_choice_most_probable_first_copied_exactly():
    result = tagger(threshold=0.5).tag("text", id="6186")
    assert result.to_dict() == {"id": "6186", "tags": [{"id": 4, "name": "cli"}, {"id": "x", "name": "rust"}]}
    assert result.to_json() == '{"id": "6186", "tags": [{"id": 4, "name": "cli"}, {"id": "x", "name": "rust"}]}'
    assert tagger(threshold=0.05).tag("t").to_dict(scores=True)["tags"] == [
        {"id": 4, "name": "cli", "score": 0.9}, {"id": "x", "name": "rust", "score": 0.6},
        {"id": 17, "name": "ai", "score": 0.3}]


def test_per_tag_thresholds_and_min_top_score():
    assert [t.tag.name for t in tagger(threshold=0.5, thresholds={"ai": 0.2}).tag("t").tags] == ["cli", "rust", "ai"]
    assert tagger(threshold=0.5, min_top_score=0.95).tag("t", id=1).to_dict() == {"id": 1, "tags": []}


def test_trailing_space_name_is_kept():
    names = [t["name"] for t in tagger({"game-engine": 0.9}).tag("t").to_dict()["tags"]]
    assert names == ["game-engine "]


@pytest.mark.parametrize("record_id", [6186, "6186", None, "owner/repo", 1.5])
def test_id_is_echoed_with_its_type(record_id):
    assert tagger().tag("t", id=record_id).to_dict()["id"] == record_id


def test_limits():
    assert len(tagger(threshold=0.0).tag("t").tags) == 3  # default limit
    assert len(tagger(threshold=0.0).tag("t", max_tags=4).tags) == 4
    with pytest.raises(ConfigError, match="^max_tags must be at least 1$"):
        tagger().tag("t", max_tags=0)
    with pytest.raises(ConfigError, match=r"^max_tags 5 exceeds the taxonomy size \(4 tags\)$"):
        tagger().tag("t", max_tags=5)
    two = Taxonomy.from_json(["cli", "rust"])
    assert [t.tag.name for t in tagger(threshold=0.0).tag("t", taxonomy=two).tags] == ["cli", "rust"]


@pytest.mark.parametrize("text", ["", "   \n\t ", b""])
def test_empty_text_gives_no_tags_and_is_not_scored(text):
    fake = FixedScores(SCORES, taxonomy=TAX)
    assert Tagger(fake).tag(text, id="e").to_dict() == {"id": "e", "tags": []}
    assert fake.calls == []


def test_an_abstaining_backend_gives_no_tags():
    abstain = Tagger(FixedScores(lambda doc: None if "nothing" in doc.text else SCORES, taxonomy=TAX))
    results = list(abstain.tag_many([("a", "nothing here"), ("b", "something")]))
    assert [r.to_dict() for r in results] == [{"id": "a", "tags": []}, {"id": "b", "tags": [{"id": 4, "name": "cli"},
                                                                                            {"id": "x", "name": "rust"}]}]


def test_bad_items_raise_or_become_error_records():
    binary = bytes(range(256)) * 10
    with pytest.raises(InputError, match="^input is binary, not text"):
        tagger().tag(binary)
    results = list(tagger().tag_many([("a", "ok"), ("b", binary), {"id": "c"}, {"id": "d", "readme": 5}, 3.5],
                                     errors="record"))
    assert [r.to_dict() for r in results] == [
        {"id": "a", "tags": [{"id": 4, "name": "cli"}, {"id": "x", "name": "rust"}]},
        {"id": "b", "error": "input is binary, not text: give a README in UTF-8 or UTF-16"},
        {"id": "c", "error": "record has no 'readme' field"},
        {"id": "d", "error": "'readme' must be a string"},
        {"id": None, "error": "cannot tag a float: give a README text or a {'id', 'readme'} record"},
    ]


def test_documents_carry_the_repository_name_from_the_id_or_the_record():
    fake = FixedScores(SCORES, taxonomy=TAX)
    list(Tagger(fake).tag_many([Record("t", "owner/ripgrep"), Record("t", "x/README.md"), Record("t", 5, "given"),
                                 Record("t", "plain")]))
    assert [(d.id, d.name) for d in fake.calls[0]] == [
        ("owner/ripgrep", "ripgrep"), ("x/README.md", "x"), (5, "given"), ("plain", None)]


def test_tag_many_batches_keep_order():
    fake = FixedScores(lambda doc: {"cli": float(doc.text)}, taxonomy=TAX)
    batched = Tagger(fake, batch_size=2)
    results = list(batched.tag_many(Record(str(i / 10), i) for i in range(5)))
    assert [r.id for r in results] == [0, 1, 2, 3, 4]
    assert [len(call) for call in fake.calls] == [2, 2, 1]
    assert [r.tags[0].score for r in results] == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_tag_prompt_uses_the_prompt_taxonomy_and_limit():
    prompt = ('base on # A tool\n", Assign "at most 1 tags" to the expected json: {"id":"9","tags":[]} '
              '"only from the tags list I provide: [{"id":4,"name":"cli"},{"id":5,"name":"rust"}]"')
    assert json.loads(tagger(threshold=0.0).tag_prompt(prompt).to_json()) == {"id": "9", "tags": [{"id": 4, "name": "cli"}]}


def test_load_picks_the_backend_by_name_with_options():
    loaded = Tagger.load(backend="fixed", scores={"cli": 1.0})
    assert loaded.name == "fixed" and loaded.taxonomy == Taxonomy.default()
    assert loaded.tag("t").to_dict() == {"id": None, "tags": [{"id": 4, "name": "cli"}]}


def test_a_backend_that_breaks_the_interface_is_a_clear_error():
    class TooFew(FixedScores):
        def score(self, documents, taxonomy):
            return super().score(documents, taxonomy)[:-1]

    class WrongWidth(FixedScores):
        def score(self, documents, taxonomy):
            return [[0.5] for _ in documents]

    with pytest.raises(ModelError, match=r"^backend 'fixed' returned 1 score rows for 2 READMEs$"):
        list(Tagger(TooFew(SCORES, taxonomy=TAX)).tag_many(["a", "b"]))
    with pytest.raises(ModelError, match=r"^backend 'fixed' returned 1 scores for a 4-tag taxonomy$"):
        Tagger(WrongWidth(SCORES, taxonomy=TAX)).tag("a")


def test_min_score_gives_no_tag_under_it_and_may_give_none():
    low = tagger(threshold=0.05)
    assert [t.tag.name for t in low.tag("t", min_score=0.5).tags] == ["cli", "rust"]
    assert low.tag("t", id=1, min_score=0.95).to_dict() == {"id": 1, "tags": []}
    floored = Tagger(FixedScores(SCORES, DecisionPolicy(0.05), taxonomy=TAX), min_score=0.7)
    assert [t.tag.name for t in floored.tag("t").tags] == ["cli"]
    assert [t.tag.name for t in floored.tag("t", min_score=0.0).tags] == ["cli", "rust", "ai"]  # per call wins
    assert [r.to_dict()["tags"] for r in floored.tag_many(["a", "b"], min_score=0.95)] == [[], []]
    for bad in (-0.1, 1.5, True, "0.5"):
        with pytest.raises(ConfigError, match="^min_score must be a number between 0 and 1$"):
            low.tag("t", min_score=bad)


def test_min_score_comes_from_settings():
    from repotag import Settings

    loaded = Tagger.load(settings=Settings(backend="fixed", min_score=0.5))
    assert loaded.min_score == 0.5 and loaded.tag("anything").to_dict() == {"id": None, "tags": []}
    assert Settings.from_env({"REPOTAG_MIN_SCORE": "0.25"}).min_score == 0.25


def test_the_backends_default_floor_applies_when_none_is_set():
    class Cautious(FixedScores):
        def default_min_score(self, taxonomy):
            return 0.95 if len(taxonomy) < 5 else 0.0

    cautious = Tagger(Cautious(SCORES, DecisionPolicy(0.05), taxonomy=TAX))
    assert cautious.tag("t", id=1).to_dict() == {"id": 1, "tags": []}  # the backend's 0.95 for this small list
    assert [t.tag.name for t in cautious.tag("t", min_score=0.0).tags] == ["cli", "rust", "ai"]  # the caller's wins
    assert Tagger(Cautious(SCORES, taxonomy=TAX), min_score=0.0).tag("t").tags  # so does the tagger's


def test_embedded_floor_is_zero_for_its_own_tags_and_point_one_for_zero_shot_ones(tagger):
    from repotag.backends._embedded import ZERO_SHOT_MIN_SCORE

    assert tagger.backend.default_min_score(Taxonomy.default()) == 0.0
    assert tagger.backend.default_min_score(Taxonomy.from_json(["CLI", "batch"])) == ZERO_SHOT_MIN_SCORE == 0.1
