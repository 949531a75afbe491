import json

import numpy as np
import pytest

from repotag import DecisionPolicy, ModelError, Taxonomy
from repotag.model import ModelParams, TagModel

TAX = Taxonomy.from_json([
    {"id": 1, "name": "database", "description": "SQL and NoSQL database engines"},
    {"id": 2, "name": "game", "description": "video games to play"},
    {"id": 3, "name": "cli", "description": "command-line tools"},
    {"id": 4, "name": "music", "description": "audio players, music theory and songs"},
])
DOCS = [
    "a relational SQL database engine", "key-value database storage engine", "time series database server",
    "a platformer video game", "an open world game with dragons", "multiplayer shooter game",
    "command-line tool to rename files", "a terminal command-line utility for git", "cli for uploading files",
]
LABELS = [["database"]] * 3 + [["game"]] * 3 + [["cli"]] * 3


@pytest.fixture(scope="module")
def trained():
    return TagModel.for_taxonomy(TAX, regularization=10.0).fit(DOCS, LABELS)


def test_training_learns_a_tiny_labelled_set(trained):
    proba = trained.predict_proba(["an embedded SQL database", "a puzzle game", "a command-line tool"])
    assert list(proba.argmax(axis=1)) == [0, 1, 2]
    assert trained.trained_tags == ["database", "game", "cli"]


def test_tag_without_examples_falls_back_to_zero_shot(trained):
    proba = trained.predict_proba(["a music player for mp3 songs and playlists"])
    assert proba[0, 3] > 0 and proba.shape == (1, 4)
    zero_only = TagModel.for_taxonomy(TAX)
    assert zero_only.predict_proba(["a music player for songs"]).argmax() == 3


def test_save_load_round_trip_gives_identical_outputs(trained, tmp_path):
    trained.save(tmp_path / "m")
    loaded = TagModel.load(tmp_path / "m")
    docs = ["graph database", "strategy game", "cli", "songs"]
    np.testing.assert_allclose(loaded.predict_proba(docs), trained.predict_proba(docs), atol=1e-3)
    assert loaded.trained_tags == trained.trained_tags


def test_custom_taxonomy_mixes_trained_heads_and_zero_shot(trained):
    other = Taxonomy.from_json([{"id": "g", "name": "Game"}, {"id": "w", "name": "weather"}])
    proba = trained.predict_proba(["a racing game", "weather forecast service"], other)
    assert proba.shape == (2, 2)
    assert proba[0, 0] > proba[0, 1]


def test_unfitted_copy_keeps_the_class_and_settings_but_not_the_training(trained):
    class Variant(TagModel):
        pass

    variant = Variant.for_taxonomy(TAX, regularization=10.0).fit(DOCS, LABELS)
    copy = variant.unfitted_copy()
    assert type(copy) is Variant and copy.params == variant.params and copy.tags == variant.tags
    assert not copy.is_trained and variant.is_trained


def test_annotator_shares_are_soft_targets():
    model = TagModel.for_taxonomy(TAX)
    targets = model.targets([["database"], ["game"]])
    shares = model.annotator_shares(targets, [[["database", "cli"], ["database"], ["Database "]], None])
    np.testing.assert_allclose(shares, [[1, 0, 1 / 3, 0], [0, 1, 0, 0]])
    with pytest.raises(ModelError, match="documents and annotations differ in length"):
        model.annotator_shares(targets, [None])


def test_a_share_counts_as_a_weighted_positive_and_negative():
    """A document 2 of 3 annotators tagged trains the heads as three copies of weight 1/3: two positive, one negative."""
    docs = DOCS + ["a database game"]
    soft = TagModel.for_taxonomy(TAX, regularization=10.0, neighbor_mix=0, max_features=0)
    embeddings = soft.embed(docs)
    soft.fit(docs, LABELS + [["database"]], embeddings=embeddings,
             annotations=[None] * len(DOCS) + [[["database"], ["database"], ["game"]]])
    copies = TagModel.for_taxonomy(TAX, regularization=10.0, neighbor_mix=0, max_features=0)
    copies.fit(docs + [docs[-1]] * 2, LABELS + [["database"], ["database"], ["game"]], [1.0] * len(DOCS) + [1 / 3] * 3,
               embeddings=np.vstack([embeddings, embeddings[-1:], embeddings[-1:]]))
    np.testing.assert_allclose(soft.coef, copies.coef, atol=2e-3)
    np.testing.assert_allclose(soft.intercept, copies.intercept, atol=2e-3)
    assert soft.trained_tags == copies.trained_tags == ["database", "game", "cli"]


def test_training_ids_survive_save_and_load(tmp_path):
    model = TagModel.for_taxonomy(TAX).fit(DOCS, LABELS)
    assert model.trained_on(["a", 1]) == []  # unknown: nothing is claimed
    model.remember_training_ids(["o/a", 7, "o/b"])
    assert model.trained_on(["o/a", "7", 7, "o/c"]) == ["o/a", 7]
    model.save(tmp_path / "m")
    assert TagModel.load(tmp_path / "m").trained_on(["o/b", "o/c"]) == ["o/b"]


def test_fit_errors():
    model = TagModel.for_taxonomy(TAX)
    with pytest.raises(ModelError, match="label 'jazz' is not in the tag list"):
        model.fit(["x"], [["jazz"]])
    with pytest.raises(ModelError, match="documents and labels differ in length"):
        model.fit(["x", "y"], [["cli"]])


def test_load_errors(tmp_path):
    with pytest.raises(ModelError, match="not a repotag model directory"):
        TagModel.load(tmp_path)
    (tmp_path / "model.json").write_text('{"format_version": 99}')
    with pytest.raises(ModelError, match="unsupported model format version 99"):
        TagModel.load(tmp_path)


def test_neighbor_votes_are_the_weighted_labels_of_the_nearest_documents(trained):
    vectors = trained.memory
    votes = trained.neighbor_votes(vectors[:1])  # a training document's own neighbourhood
    assert votes.shape == (1, 4) and votes.sum() == pytest.approx(1.0)
    assert votes[0].argmax() == 0  # its nearest documents are the other databases
    off = TagModel.for_taxonomy(TAX, neighbor_mix=0.0).fit(DOCS, LABELS)
    assert off.memory is None
    assert trained.memory.shape == (9, trained.encoder.dimension) and trained.memory_labels.sum() == 9


def test_save_writes_the_current_format_and_a_model_card(trained, tmp_path):
    trained.card["name"] = "tiny"
    trained.save(tmp_path / "m")
    data = json.loads((tmp_path / "m" / "model.json").read_text())
    assert data["format_version"] == 2 and set(data["params"]) == set(ModelParams.__dataclass_fields__)
    assert data["policy"] == {"threshold": 0.3, "thresholds": {}, "min_top_score": 0.0}
    card = (tmp_path / "m" / "MODEL_CARD.md").read_text()
    assert card.startswith("# tiny\n") and "for the 3 tags with examples" in card


def test_version_1_model_directories_still_load(trained, tmp_path):
    trained.save(tmp_path / "m")
    data = json.loads((tmp_path / "m" / "model.json").read_text())
    flat = {k: v for k, v in data.items() if k not in ("params", "calibration", "policy")}
    flat.update(data["params"], format_version=1, calibration=data["calibration"]["heads"],
                zero_shot=data["calibration"]["zero_shot"], threshold=0.25, thresholds={"cli": 0.6}, min_top_score=0.01)
    (tmp_path / "m" / "model.json").write_text(json.dumps(flat))
    old = TagModel.load(tmp_path / "m")
    assert old.policy == DecisionPolicy(0.25, {"cli": 0.6}, 0.01) and old.params == trained.params
    docs = ["graph database", "strategy game"]
    np.testing.assert_allclose(old.predict_proba(docs), trained.predict_proba(docs), atol=1e-3)


def _copy_default(tmp_path):
    from repotag.model import bundled_model_dir

    target = tmp_path / "model"
    target.mkdir()
    for name in ("model.json", "weights.npz"):
        (target / name).write_bytes((bundled_model_dir() / name).read_bytes())
    return target


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "weights.npz").write_bytes((d / "weights.npz").read_bytes()[:5000]), "damaged or unreadable: BadZipFile"),
        (lambda d: (d / "weights.npz").write_bytes(b""), "damaged or unreadable: EOFError"),
        (lambda d: (d / "model.json").write_text("[1, 2]"), "damaged: model.json is not an object"),
        (lambda d: (d / "model.json").write_text(json.dumps({**json.loads((d / "model.json").read_text()),
                                                             "tags": ["a", "b"]})), "damaged: arrays do not fit together"),
    ],
)
def test_damaged_model_directories_raise_one_line_model_errors(tmp_path, damage, message):
    directory = _copy_default(tmp_path)
    damage(directory)
    with pytest.raises(ModelError) as raised:
        TagModel.load(directory)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_damaged_encoder_fails_at_load_with_a_model_error(tmp_path):
    from repotag import Tagger
    from repotag.model import bundled_model_dir

    directory = _copy_default(tmp_path)
    (directory / "encoder").mkdir()
    (directory / "encoder" / "model.onnx").write_bytes(b"not a protobuf")
    (directory / "encoder" / "tokenizer.json").write_bytes((bundled_model_dir() / "encoder" / "tokenizer.json").read_bytes())
    config = json.loads((directory / "model.json").read_text())
    (directory / "model.json").write_text(json.dumps({**config, "encoder": "encoder"}))
    with pytest.raises(ModelError, match=r"^encoder in .*encoder is damaged or unreadable: InvalidProtobuf|^encoder in .* "
                                         r"is damaged or unreadable"):
        Tagger.load(directory)


def test_tag_embedding_cache_is_bounded(monkeypatch):
    from repotag.model import _estimator

    monkeypatch.setattr(_estimator, "TAG_CACHE_SIZE", 5)
    model = TagModel(["a"])
    first = model.tag_embeddings([(str(i), f"tag {i}") for i in range(8)])
    assert len(model._tag_embeddings) == 5 and list(model._tag_embeddings)[0] == "tag 3"
    again = model.tag_embeddings([("7", "tag 7"), ("0", "tag 0")])
    assert np.allclose(again, first[[7, 0]]) and list(model._tag_embeddings)[-2:] == ["tag 7", "tag 0"]
