import json

import numpy as np
import pytest

from repotag import InputError, Taxonomy
from repotag.training import LabelledDocument, best_threshold, fit_platt, read_labelled, train_model

TAX = Taxonomy.from_json(["database", "game", "cli"])
EXAMPLES = {
    "database": ["a relational SQL database engine", "key-value database storage", "time series database",
                 "graph database server", "embedded database library", "distributed SQL database"],
    "game": ["a platformer video game", "open world game with dragons", "multiplayer shooter game",
             "chess game", "a puzzle game for phones", "racing game"],
    "cli": ["command-line tool to rename files", "terminal command-line utility for git", "cli for uploads",
            "command-line json viewer", "a shell command to find files", "cli password generator"],
}


def documents():
    return [LabelledDocument(f"{tag}{i}", text, [tag]) for tag, texts in EXAMPLES.items()
            for i, text in enumerate(texts)]


def test_train_model_cross_validates_calibrates_and_learns():
    result = train_model(TAX, documents(), folds=3)
    assert result.report is not None and result.report.count == 18
    assert result.report.top1_hit >= 0.8
    model = result.model
    assert model.policy.threshold in [round(x, 2) for x in np.arange(0.1, 0.71, 0.05)]
    assert model.predict_proba(["a document database"]).argmax() == 0
    assert model.card["taxonomy"] == TAX.to_list()


def test_too_few_documents_skip_cross_validation():
    result = train_model(TAX, documents()[::5], folds=3)  # 4 READMEs, three tags
    assert result.report is None and result.model.is_trained


def test_read_labelled(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text(
        json.dumps({"id": "o/sqlite", "readme": "# SQLite\nAn embedded database.", "tags": ["database"]}) + "\n\n"
        + json.dumps({"id": 2, "readme": "Chess", "tags": [{"id": 2, "name": "Game "}]}) + "\n"
    )
    docs = read_labelled(path, TAX)
    assert [(d.id, d.text, d.tags) for d in docs] == [
        ("o/sqlite", "sqlite. SQLite. An embedded database.", ["database"]), (2, "Chess", ["game"])
    ]
    assert [d.annotations for d in docs] == [None, None]


def test_read_labelled_keeps_each_annotators_answer(tmp_path):
    path = tmp_path / "labels.jsonl"
    row = {"id": 1, "readme": "x", "tags": ["database"], "annotators": [["database", "cli"], ["Database"], []]}
    path.write_text(json.dumps(row) + "\n")
    assert read_labelled(path, TAX)[0].annotations == [["database", "cli"], ["database"], []]


@pytest.mark.parametrize(
    "line, message",
    [("{bad", "labels.jsonl:1: expected a JSON object with 'readme' and 'tags'"),
     ('{"readme": "x", "tags": ["jazz"]}', "labels.jsonl:1: tag 'jazz' is not in the taxonomy"),
     ('{"readme": "x", "tags": [], "annotators": ["cli"]}', "labels.jsonl:1: 'annotators' must be a list of tag lists"),
     ('{"readme": "x", "tags": [], "annotators": [["jazz"]]}', "labels.jsonl:1: tag 'jazz' is not in the taxonomy"),
     ('{"readme": 5, "tags": ["cli"]}', "labels.jsonl:1: 'readme' must be a string"),
     ('{"readme": ["a"], "tags": ["cli"]}', "labels.jsonl:1: 'readme' must be a string"),
     ('{"readme": "x", "tags": "cli"}', "labels.jsonl:1: 'tags' must be a list of tag names")],
)
def test_read_labelled_errors(tmp_path, line, message):
    path = tmp_path / "labels.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(InputError) as info:
        read_labelled(path, TAX)
    assert str(info.value).endswith(message)


def test_fit_platt_and_best_threshold():
    a, b = fit_platt(np.array([-2.0, -1, 1, 2] * 10), np.array([0, 0, 1, 1] * 10))
    assert a > 0
    assert fit_platt(np.array([1.0, 2.0]), np.array([1, 1])) == (1.0, 0.0)
    proba = np.array([[0.9, 0.45, 0.0], [0.2, 0.8, 0.5]])
    assert best_threshold(proba, [["database", "game"], ["game"]], TAX) == 0.45


def test_tuned_thresholds_move_toward_the_best_in_proportion_to_support():
    from repotag.training import tune_tag_thresholds

    # "game" as a second tag is right at 0.35 and wrong at 0.3: its best threshold is above 0.3.
    proba = np.array([[0.9, 0.35, 0.0]] * 4 + [[0.9, 0.3, 0.0]] * 4)
    gold = [["database", "game"]] * 4 + [["database"]] * 4
    tuned = tune_tag_thresholds(proba, gold, TAX, threshold=0.1, strength=4.0)
    # support of "game" is 4: halfway from 0.1 toward the best grid value above 0.3 (0.35)
    assert tuned == {"game": pytest.approx(0.1 + 0.5 * (0.35 - 0.1))}
    assert tune_tag_thresholds(proba, gold, TAX, threshold=0.1, strength=1e9) == {}


def test_nested_selection_scores_every_row_once():
    from repotag.training import nested_selection_report

    proba = np.tile([0.9, 0.1, 0.05], (10, 1))
    gold = [["database"]] * 10
    report = nested_selection_report(proba, gold, list(range(10)), TAX, per_tag=True, folds=5)
    assert report.count == 10 and report.micro_f1 == 1.0


def test_nested_predictions_apply_the_users_floor():
    from repotag.training import nested_predictions

    proba = np.tile([0.9, 0.1, 0.05], (10, 1))
    proba[3] = [0.2, 0.1, 0.05]
    gold = [["database"]] * 10
    assert nested_predictions(proba, gold, list(range(10)), TAX, per_tag=True, folds=5) == {i: ["database"] for i in range(10)}
    floored = nested_predictions(proba, gold, list(range(10)), TAX, per_tag=True, folds=5, min_score=0.5)
    assert floored == {**{i: ["database"] for i in range(10)}, 3: []}


def test_empty_readmes_are_left_out_and_said(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"readme": "  ", "tags": ["cli"]}\n{"readme": "a cli", "tags": ["cli"]}\n')
    said = []
    assert [d.tags for d in read_labelled(path, TAX, on_skip=said.append)] == [["cli"]]
    assert said == [f"{path}:1: empty README left out"]


def test_the_same_tags_everywhere_is_one_clear_error():
    from repotag import ModelError

    same = [LabelledDocument(i, f"tool {i}", ["cli"]) for i in range(6)]
    with pytest.raises(ModelError, match=r"^every labelled README has the same tags \(cli\): nothing to tell apart"):
        train_model(TAX, same, folds=3)


def test_a_tag_on_every_example_is_always_given():
    both = [LabelledDocument(d.id, d.text, sorted({"cli", *d.tags})) for d in documents()]
    model = train_model(TAX, both, folds=3).model
    assert "cli" in model.trained_tags
    assert model.predict_proba(["a chess game"])[0][TAX.keys.index("cli")] > 0.9


RENAMED = Taxonomy.from_json(["storage engines", "games", "command line"])
RENAME = {"database": "storage engines", "game": "games", "cli": "command line"}


def renamed_documents():
    return [LabelledDocument(d.id, d.text, [RENAME[t] for t in d.tags]) for d in documents()]


def test_a_model_built_on_a_base_scores_the_tags_it_matches_with_the_base():
    base = train_model(TAX, documents(), folds=3).model
    result = train_model(RENAMED, renamed_documents(), folds=3, base=base)
    model = result.model
    assert model.base_tags == {"storage engines": "database", "games": "game", "command line": "cli"}
    assert model.base_agreement == {"storage engines": 1.0, "games": 1.0, "command line": 1.0}
    texts = ["a document database", "a card game", "a cli to resize images"]
    np.testing.assert_allclose(model.predict_proba(texts), base.predict_proba(texts))
    assert model.known_tags == {"storage engines", "games", "command line"}


def test_base_matching_by_name_and_agreement_and_never_on_too_little():
    base = train_model(TAX, documents(), folds=3).model
    taxonomy = Taxonomy.from_json(["cli", "games", "misc"])
    docs = [LabelledDocument(d.id, d.text, [{"cli": "cli", "game": "games"}.get(t, "misc") for t in d.tags])
            for d in documents()]
    # 'misc' labels the database READMEs: they agree with the base's 'database'.
    model = train_model(taxonomy, docs, folds=3, base=base).model
    assert model.base_tags == {"cli": "cli", "games": "game", "misc": "database"}
    # A tag whose labels the base's choices do not follow (half the games, half the databases) stays the user's own.
    mixed = [LabelledDocument(d.id, d.text, ["misc" if i % 2 else ("cli" if d.tags == ["cli"] else "games")])
             for i, d in enumerate(documents())]
    model = train_model(taxonomy, mixed, folds=3, base=base).model
    assert "misc" not in model.base_tags and model.base_tags.get("cli") == "cli"


def test_a_meaning_match_is_vetoed_only_when_the_base_does_not_rank_the_labelled_readmes_first():
    base = train_model(TAX, documents(), folds=3).model
    swapped = {"database": "storage engines", "game": "command line", "cli": "games"}  # names swapped with labels
    docs = [LabelledDocument(d.id, d.text, [swapped[t] for t in d.tags]) for d in documents()]
    model = train_model(RENAMED, docs, folds=3, base=base).model
    # 'games' is near the base's game in meaning, but its READMEs are the cli ones: its own head learns it,
    # and no other base tag is taken on the strength of 6 labels.
    assert model.base_tags == {"storage engines": "database"}
    assert {"games", "command line"} <= set(model.trained_tags)
    # A base that never *chooses* game (it prefers database there) but ranks the game READMEs first keeps it.
    quiet = np.full((len(documents()), 3), 0.01, dtype=np.float32)
    for row, doc in enumerate(documents()):
        quiet[row, TAX.keys.index(doc.tags[0])] = 0.2 if doc.tags == ["game"] else 0.9
        if doc.tags == ["game"]:
            quiet[row, TAX.keys.index("database")] = 0.3
    model = train_model(RENAMED, renamed_documents(), folds=3, base=base, base_probabilities=quiet).model
    assert model.base_tags == {"storage engines": "database", "games": "game", "command line": "cli"}
    assert model.base_agreement["games"] == 0.0


def test_a_weaker_meaning_match_is_made_only_when_the_labels_confirm_it():
    base = train_model(TAX, documents(), folds=3).model
    taxonomy = Taxonomy.from_json(["data keepers", "games", "command line"])  # 'data keepers': 0.47 from database

    def labelled(keepers):
        tags = {"game": ["games"], "cli": ["command line"], "database": []}
        return [LabelledDocument(d.id, d.text, tags[d.tags[0]] + (["data keepers"] if d.id in keepers else []))
                for d in documents()]

    # Two labels, too few to agree or veto, but the base's database scores rank them first.
    model = train_model(taxonomy, labelled({"database0", "database1"}), folds=3, base=base).model
    assert model.base_tags == {"data keepers": "database", "games": "game", "command line": "cli"}
    # The same name on two cli READMEs: the base ranks them last for database, so the tag keeps its own head.
    model = train_model(taxonomy, labelled({"cli0", "cli1"}), folds=3, base=base).model
    assert model.base_tags == {"games": "game", "command line": "cli"}
    assert "data keepers" in model.trained_tags


def test_ranking_auc_counts_pairs_ordered_with_ties_as_half():
    from repotag.model._estimator import ranking_auc

    positives = np.array([[1, 0], [1, 0], [0, 0], [0, 1]], dtype=bool)
    scores = np.array([[0.9], [0.5], [0.5], [0.1]])
    np.testing.assert_allclose(ranking_auc(positives, scores), [[(2 + 0.5) / 4 + 0.25], [0.0]])


def test_cross_validation_uses_given_base_probabilities():
    base = train_model(TAX, documents(), folds=3).model
    neutral = Taxonomy.from_json(["kind one", "kind two", "kind three"])  # names close to no base tag
    docs = [LabelledDocument(d.id, d.text, [{"database": "kind one", "game": "kind two", "cli": "kind three"}[t]
                                            for t in d.tags]) for d in documents()]
    given = np.zeros((len(docs), 3), dtype=np.float32)
    for row, doc in enumerate(docs):  # this base calls half the games 'cli', the other half 'database'
        given[row, 2 if doc.tags == ["kind three"] or (doc.tags == ["kind two"] and row % 2) else 0] = 0.9
    result = train_model(neutral, docs, folds=3, base=base, base_probabilities=given)
    assert result.model.base_tags == {"kind one": "database", "kind three": "cli"}
    assert result.model.base_agreement == {"kind one": 0.8, "kind three": 0.8}
    np.testing.assert_allclose(result.oof_probabilities[:, [0, 2]], given[:, [0, 2]])


def test_a_model_built_on_the_default_is_saved_and_loaded_with_it(tmp_path):
    from repotag.model import TagModel

    default = TagModel.load()
    taxonomy = Taxonomy.from_json(["command-line tool", "video game"])
    docs = [LabelledDocument(d.id, d.text, [{"cli": "command-line tool", "game": "video game"}[d.tags[0]]])
            for d in documents() if d.tags != ["database"]]
    model = train_model(taxonomy, docs, folds=3, base=default).model
    assert model.base_tags == {"command-line tool": "cli", "video game": "game"}
    model.save(tmp_path / "m")
    loaded = TagModel.load(tmp_path / "m")
    assert loaded.base is not None and loaded.base.is_bundled and loaded.base.encoder is loaded.encoder
    assert loaded.base_tags == model.base_tags
    texts = ["a cli to resize images", "a racing game"]
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6)
    card = (tmp_path / "m" / "MODEL_CARD.md").read_text()
    assert "**Built on the default model**: 2 tags" in card and "command-line tool = cli" in card


def test_only_a_model_built_on_the_embedded_default_can_be_saved(tmp_path):
    from repotag import ModelError

    base = train_model(TAX, documents(), folds=3).model
    model = train_model(RENAMED, renamed_documents(), folds=3, base=base).model
    with pytest.raises(ModelError, match="cannot be saved"):
        model.save(tmp_path / "m")
