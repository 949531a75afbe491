import pytest

from repotag import ConfigError, Taxonomy
from repotag._rules import ScoredTag, check_max_tags, select_tags

TAX = Taxonomy.from_json(["a", "b", "c", "d"])


def names(chosen):
    return [c.tag.name for c in chosen]


def test_first_tag_then_those_over_threshold_most_probable_first():
    assert names(select_tags([0.1, 0.9, 0.5, 0.2], TAX, 3, threshold=0.4)) == ["b", "c"]


def test_at_most_max_tags():
    assert names(select_tags([0.9, 0.8, 0.7, 0.6], TAX, 2, threshold=0.1)) == ["a", "b"]


def test_top_tag_kept_even_below_threshold_unless_below_min_top():
    assert names(select_tags([0.05, 0.01, 0.0, 0.0], TAX, 3, threshold=0.5)) == ["a"]
    assert select_tags([0.05, 0.01, 0.0, 0.0], TAX, 3, threshold=0.5, min_top_score=0.1) == []


def test_ties_follow_taxonomy_order():
    assert names(select_tags([0.5, 0.5, 0.5, 0.5], TAX, 4, threshold=0.5)) == ["a", "b", "c", "d"]


def test_scored_tag_serialises():
    chosen = select_tags([0.12345, 0, 0, 0], TAX, 1, 0.5)[0]
    assert chosen == ScoredTag(TAX[0], 0.12345)
    assert chosen.to_dict() == {"id": 1, "name": "a"}
    assert chosen.to_dict(scores=True) == {"id": 1, "name": "a", "score": 0.1235}


@pytest.mark.parametrize(
    "value, message",
    [(0, "max_tags must be at least 1"), (5, "max_tags 5 exceeds the taxonomy size (4 tags)"),
     ("3", "max_tags must be a whole number"), (True, "max_tags must be a whole number")],
)
def test_check_max_tags(value, message):
    with pytest.raises(ConfigError) as info:
        check_max_tags(value, TAX)
    assert str(info.value) == message
    assert check_max_tags(4, TAX) == 4


def test_per_tag_thresholds_skip_a_failing_tag_and_keep_later_ones():
    chosen = select_tags([0.9, 0.4, 0.35, 0.1], TAX, 3, [0.5, 0.5, 0.3, 0.5])
    assert names(chosen) == ["a", "c"]


def test_resolve_max_tags():
    from repotag._rules import resolve_max_tags

    assert resolve_max_tags(None, 3, TAX) == 3
    assert resolve_max_tags(None, 9, TAX) == 4  # the default shrinks to the taxonomy
    assert resolve_max_tags(2, 3, TAX) == 2
    with pytest.raises(ConfigError, match="max_tags 9 exceeds the taxonomy size"):
        resolve_max_tags(9, 3, TAX)  # an explicit one must fit
