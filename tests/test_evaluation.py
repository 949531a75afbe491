import json

import pytest

from repotag.evaluation import TaggingEvaluator, read_tag_lists, write_chart

GOLD = {"a": ["cli", "terminal"], "b": ["ai"], "c": ["lib", "json"]}
PRED = {"a": ["cli"], "b": ["chat", "ai"], "c": ["json", "parser", "lib"]}


def test_metrics_match_hand_computation():
    report = TaggingEvaluator(GOLD)(PRED)
    # tp = 1 + 1 + 2 = 4, fp = 0 + 1 + 1 = 2, fn = 1 + 0 + 0 = 1
    assert report.micro_precision == pytest.approx(4 / 6)
    assert report.micro_recall == pytest.approx(4 / 5)
    assert report.micro_f1 == pytest.approx(2 * (4 / 6) * (4 / 5) / (4 / 6 + 4 / 5))
    # per example: a 2*1/3, b 2*1/3, c 2*2/5
    assert report.example_f1 == pytest.approx((2 / 3 + 2 / 3 + 4 / 5) / 3)
    assert report.top1_hit == pytest.approx(2 / 3)  # "chat" misses
    per_tag = {s.tag: s for s in report.per_tag}
    assert (per_tag["terminal"].support, per_tag["terminal"].recall) == (1, 0.0)
    assert per_tag["chat"].support == 0 and per_tag["chat"].precision == 0.0
    # macro over tags with support: cli 1, terminal 0, ai 1, lib 1, json 1
    assert report.macro_f1 == pytest.approx(4 / 5)
    # a missed "terminal" but predicted nothing wrong; b and c missed nothing: no confusion
    assert report.confusions == []


def test_confusions_count_missed_gold_against_wrong_predictions():
    report = TaggingEvaluator({"x": ["bundler"], "y": ["bundler"]})({"x": ["dev-tool"], "y": ["dev-tool", "cli"]})
    assert report.confusions[0] == ("bundler", "dev-tool", 2)
    assert ("bundler", "cli", 1) in report.confusions


def test_missing_predictions_count_as_empty_and_names_are_normalised():
    report = TaggingEvaluator({"a": ["game-engine"], "b": ["ai"]})({"a": ["game-engine "]})
    assert report.missing == 1 and report.micro_f1 == pytest.approx(2 / 3)


def test_report_text_and_chart(tmp_path):
    report = TaggingEvaluator(GOLD)(PRED, {"a": [0.9], "b": [0.3, 0.8], "c": [0.7, 0.2, 0.6]})
    text = report.format()
    assert "micro-F1   0.7273" in text and "top-1 hit  0.6667" in text
    assert report.scored == [(0.9, True), (0.3, False), (0.8, True), (0.7, True), (0.2, False), (0.6, True)]
    png = write_chart(report, tmp_path / "chart.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_read_tag_lists(tmp_path):
    path = tmp_path / "pred.jsonl"
    path.write_text(
        json.dumps({"id": "a", "tags": [{"id": 4, "name": "cli", "score": 0.9}]}) + "\n"
        + json.dumps({"id": "b", "tags": ["ai"]}) + "\n"
    )
    tags, scores = read_tag_lists(path)
    assert tags == {"a": ["cli"], "b": ["ai"]} and scores == {"a": [0.9]}
