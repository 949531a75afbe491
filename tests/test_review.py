"""The review page: its session (queue, decisions file, learning), exports, and the page in a real browser."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from repotag import InputError, Tagger
from repotag.backends import FixedScores
from repotag.cli import main
from repotag.review import (
    ReviewSession,
    argilla_records,
    format_review_stats,
    label_studio_tasks,
    locked_tags,
    read_decisions,
    review_stats,
)

READMES = {
    "acme/pixel": "# pixel\n\nA command-line tool that converts and resizes images in bulk.",
    "acme/quest": "# quest\n\nA small 2D game engine for pixel-art platformers, written in Lua.",
    "acme/ledger": "# ledger\n\nA Python library for double-entry bookkeeping with a SQL database backend.",
}
#: The model's suggestions as `repotag batch --scores` writes them: ledger is the least confident.
RESULTS = [
    {"id": "acme/pixel", "tags": [{"id": 4, "name": "cli", "score": 0.81}, {"id": 33, "name": "lib", "score": 0.42}]},
    {"id": "acme/quest", "tags": [{"id": 22, "name": "game", "score": 0.55}, {"id": 33, "name": "lib", "score": 0.3}]},
    {"id": "acme/ledger", "tags": [{"id": 33, "name": "lib", "score": 0.35}]},
]


def write_inputs(folder: Path) -> tuple[Path, Path]:
    readmes, results = folder / "catalogue.jsonl", folder / "tags.jsonl"
    readmes.write_text("".join(json.dumps({"id": k, "readme": v}) + "\n" for k, v in READMES.items()))
    results.write_text("".join(json.dumps(row) + "\n" for row in RESULTS))
    return readmes, results


@pytest.fixture
def session(tmp_path):
    readmes, results = write_inputs(tmp_path)
    return ReviewSession(results, readmes, tmp_path / "reviewed.jsonl", Tagger(FixedScores()), reviewer="ana")


def test_queue_is_least_confident_first_and_skip_moves_to_the_end(session):
    assert [i.id for i in session.queue()] == ["acme/ledger", "acme/quest", "acme/pixel"]
    assert [i.id for i in session.queue("tag", "lib")] == ["acme/ledger", "acme/quest", "acme/pixel"]
    assert [i.id for i in session.queue("tag", "game")] == ["acme/quest"]
    session.skip('id:"acme/ledger"')
    assert [i.id for i in session.queue()] == ["acme/quest", "acme/pixel", "acme/ledger"]


def test_each_decision_is_one_whole_line_in_train_format(session, tmp_path):
    accepted = session.decide('id:"acme/pixel"', ["cli", "lib"])
    corrected = session.decide('id:"acme/ledger"', ["LIB ", "database"])
    rows = [json.loads(line) for line in (tmp_path / "reviewed.jsonl").read_text().splitlines()]
    assert rows == [accepted, corrected]
    assert {k: v for k, v in corrected.items() if k != "reviewed_at"} == {
        "id": "acme/ledger", "readme": READMES["acme/ledger"], "tags": ["lib", "database"], "locked": True,
        "decision": "corrected", "suggested": [{"name": "lib", "score": 0.35}], "reviewer": "ana"}
    assert accepted["decision"] == "accepted" and corrected["reviewed_at"].endswith("+00:00")
    assert [i.id for i in session.queue()] == ["acme/quest"]
    assert session.progress() == {"reviewed": 2, "total": 3, "accepted": 1, "corrected": 1, "acceptance_rate": 0.5,
                                  "corrections": {"database": {"added": 1, "removed": 0}}}


def test_bad_decisions_are_refused_and_write_nothing(session, tmp_path):
    with pytest.raises(InputError, match="^tag 'rust' is not in the taxonomy$"):
        session.decide('id:"acme/pixel"', ["cli", "rust"])
    with pytest.raises(InputError, match="^at most 3 tags$"):
        session.decide('id:"acme/pixel"', ["cli", "lib", "ai", "game"])
    with pytest.raises(InputError, match="no item"):
        session.decide('id:"nobody/here"', ["cli"])
    assert not (tmp_path / "reviewed.jsonl").exists()


def test_reopening_resumes_and_a_torn_last_line_is_not_a_decision(session, tmp_path):
    session.decide('id:"acme/ledger"', ["lib"])
    with open(tmp_path / "reviewed.jsonl", "a") as labels:
        labels.write('{"id": "acme/quest", "tags": ["ga')  # killed mid-write
    again = ReviewSession(tmp_path / "tags.jsonl", tmp_path / "catalogue.jsonl", tmp_path / "reviewed.jsonl",
                          Tagger(FixedScores()), reviewer="ana")
    assert list(again.decisions) == ['id:"acme/ledger"']
    assert [i.id for i in again.queue()] == ["acme/quest", "acme/pixel"]
    again.decide('id:"acme/quest"', ["game"])  # starts on a line of its own
    assert [r["id"] for r in read_decisions(tmp_path / "reviewed.jsonl").values()] == ["acme/ledger", "acme/quest"]


def test_results_without_scores_are_refused(tmp_path):
    readmes, results = write_inputs(tmp_path)
    results.write_text(json.dumps({"id": "acme/pixel", "tags": [{"id": 4, "name": "cli"}]}) + "\n")
    with pytest.raises(InputError, match="results need scores: run 'repotag batch ... --scores'"):
        ReviewSession(results, readmes, tmp_path / "r.jsonl", Tagger(FixedScores()))


def test_stats_and_exports_are_exact():
    rows = [
        {"id": "a/x", "readme": "# x\nA tool.", "tags": ["cli"], "suggested": [{"name": "cli", "score": 0.9}],
         "reviewer": "ana", "reviewed_at": "2026-12-02T10:00:00+00:00"},
        {"id": "b/y", "readme": "# y\nA game.", "tags": ["game"], "suggested": [{"name": "lib", "score": 0.4}],
         "reviewer": "ana", "reviewed_at": "2026-12-02T10:01:00+00:00"},
    ]
    stats = review_stats(rows)
    assert stats == {"reviewed": 2, "accepted": 1, "corrected": 1, "acceptance_rate": 0.5,
                     "corrections": {"game": {"added": 1, "removed": 0}, "lib": {"added": 0, "removed": 1}}}
    assert format_review_stats(stats).splitlines()[0] == (
        "review: 2 reviewed, 1 accepted as suggested, 1 corrected (acceptance rate 50.0%)")
    studio = label_studio_tasks(rows)[1]
    assert studio["data"] == {"text": "y. y. A game.", "repository": "b/y"}
    assert studio["annotations"][0]["result"] == [
        {"from_name": "tags", "to_name": "text", "type": "choices", "value": {"choices": ["game"]}}]
    assert studio["predictions"][0]["result"][0]["value"] == {"choices": ["lib"]}
    record = argilla_records(rows)[1]
    assert record["responses"] == {"tags": [{"value": ["game"], "user_id": "ana", "status": "submitted"}]}
    assert record["suggestions"] == {"tags": {"value": ["lib"], "score": [0.4], "agent": "repotag"}}


def test_a_correction_teaches_the_model_at_once(tmp_path):
    readme = "# {name}\n\nZorblax frobnicates the quuxinator for wibble pipelines."
    readmes = tmp_path / "in.jsonl"
    readmes.write_text("".join(json.dumps({"id": f"x/{n}", "readme": readme.format(name=n)}) + "\n"
                               for n in ("zorb", "zorb2")))
    tagger = Tagger.load()  # its own: learning changes the model's memory
    before = {r.id: r for r in tagger.tag_many([{"id": f"x/{n}", "readme": readme.format(name=n)}
                                                 for n in ("zorb", "zorb2")])}
    results = tmp_path / "tags.jsonl"
    results.write_text("".join(json.dumps(before[i].to_dict(scores=True)) + "\n" for i in ("x/zorb", "x/zorb2")))
    session = ReviewSession(results, readmes, tmp_path / "r.jsonl", tagger, reviewer="ana")
    memory = len(tagger.backend.model.memory)
    first = session.queue()[0]
    twin = next(i for i in session.items.values() if i is not first)
    old = {t.tag.name: t.score for t in twin.suggested}
    session.decide(first.key, ["game-engine "])
    assert len(tagger.backend.model.memory) == memory + 1
    new = {t.tag.name: t.score for t in twin.suggested}
    assert new.get("game-engine ", 0) > old.get("game-engine ", 0)
    view = session.view(twin)
    assert view["read"].startswith("zorb") and view["locked"] is False
    assert any(s["neighbours"] == [first.name] for s in view["suggested"] if s["name"] == "game-engine ")


# ---- batch keeps what a person set; eval reports the review ---------------------------
def test_batch_keeps_locked_tags_and_eval_reports_the_review(tmp_path, session):
    session.decide('id:"acme/ledger"', ["lib", "database"])
    source = tmp_path / "catalogue.jsonl"
    result = CliRunner().invoke(main, ["batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--workers", "1",
                                       "--labels", str(tmp_path / "reviewed.jsonl"), "--scores"])
    assert result.exit_code == 0, result.stderr
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert rows["acme/ledger"] == {"id": "acme/ledger", "locked": True, "tags": [
        {"id": 33, "name": "lib", "score": 1.0}, {"id": 47, "name": "database", "score": 1.0}]}
    assert "locked" not in rows["acme/pixel"]
    evaluated = CliRunner().invoke(main, ["eval", str(tmp_path / "tags.jsonl"), str(tmp_path / "reviewed.jsonl")])
    assert evaluated.exit_code == 0
    assert "review: 1 reviewed, 0 accepted as suggested, 1 corrected (acceptance rate 0.0%)" in evaluated.stdout
    assert locked_tags(tmp_path / "reviewed.jsonl", session.taxonomy)['id:"acme/ledger"'][1].name == "database"


def test_export_command_prints_import_json(tmp_path, session):
    session.decide('id:"acme/pixel"', ["cli"])
    result = CliRunner().invoke(main, ["review", str(tmp_path / "tags.jsonl"), "--readmes",
                                       str(tmp_path / "catalogue.jsonl"), "--labels", str(tmp_path / "reviewed.jsonl"),
                                       "--export", "label-studio"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)[0]["annotations"][0]["result"][0]["value"] == {"choices": ["cli"]}


# ---- the real server ----------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_review(folder: Path, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "repotag", "review", str(folder / "tags.jsonl"), "--readmes",
         str(folder / "catalogue.jsonl"), "--labels", str(folder / "reviewed.jsonl"), "--port", str(port),
         "--reviewer", "ana"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=1)
            return process
        except OSError:
            if process.poll() is not None:
                raise AssertionError(process.stderr.read())
            time.sleep(0.2)
    raise AssertionError("review server did not start")


def call(port: int, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=30).read())


@pytest.mark.slow
def test_sigkill_between_decisions_loses_nothing(tmp_path):
    write_inputs(tmp_path)
    port = free_port()
    server = start_review(tmp_path, port)
    try:
        assert call(port, "/api/decisions", {"key": 'id:"acme/ledger"', "tags": ["lib"]})["reviewed"] == 1
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
    server = start_review(tmp_path, port)
    try:
        state = call(port, "/api/state")
        assert (state["reviewed"], state["queue"]) == (1, ["acme/quest", "acme/pixel"])
        call(port, "/api/decisions", {"key": 'id:"acme/quest"', "tags": ["game"]})
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
    decisions = read_decisions(tmp_path / "reviewed.jsonl")
    assert [(r["id"], r["tags"]) for r in decisions.values()] == [("acme/ledger", ["lib"]), ("acme/quest", ["game"])]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_the_page_in_a_headless_browser(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    write_inputs(tmp_path)
    port = free_port()
    server = start_review(tmp_path, port)
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(f"http://127.0.0.1:{port}/")
            assert page.inner_text("h2") == "ledger"  # least confident first
            assert page.inner_text("#progress").startswith("0 of 3 reviewed")
            assert page.locator("#tags .chip").all_inner_texts() == ["lib 1×"]
            page.keyboard.press("a")  # accept as suggested
            page.wait_for_function("document.querySelector('h2').innerText === 'quest'")
            # quest was re-scored with the decision just made: clear whatever the model now suggests.
            while page.locator("#tags .chip").count():
                page.keyboard.press("1")
            page.keyboard.press("t")
            page.keyboard.type("game")
            page.keyboard.press("Enter")  # the field keeps the focus for the next tag
            page.keyboard.type("game-engine")
            page.keyboard.press("Enter")
            page.keyboard.press("Escape")
            assert [c.split(" ")[0] for c in page.locator("#tags .chip").all_inner_texts()] == ["game", "game-engine"]
            page.keyboard.press("a")
            page.wait_for_function("document.querySelector('h2').innerText === 'pixel'")
            page.reload()
            assert page.inner_text("h2") == "pixel"
            assert page.inner_text("#progress").startswith("2 of 3 reviewed")
            page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
            browser.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
    decisions = list(read_decisions(tmp_path / "reviewed.jsonl").values())
    assert [(r["id"], r["tags"]) for r in decisions] == [("acme/ledger", ["lib"]), ("acme/quest", ["game", "game-engine "])]
    assert decisions[0]["decision"] == "accepted" and decisions[1]["reviewer"] == "ana"
    assert (tmp_path / "review.png").stat().st_size > 10_000


def test_app_routes_answer_json_errors_and_show_reviewed_items_locked(session):
    from fastapi.testclient import TestClient

    from repotag.review._app import create_review_app

    with TestClient(create_review_app(session)) as client:
        first = client.get("/")
        assert first.status_code == 200 and "<h2>ledger</h2>" in first.text and "0 of 3 reviewed" in first.text
        saved = client.post("/api/decisions", json={"key": 'id:"acme/ledger"', "tags": ["lib"]})
        assert saved.json() == {"decision": "accepted", "tags": ["lib"], "reviewed": 1, "total": 3}
        assert "<h2>quest</h2>" in client.get("/").text
        again = client.get("/", params={"reviewed": "true"}).text
        assert "<h2>ledger</h2>" in again and 'data-locked="true"' in again
        assert client.post("/api/decisions", content=b"{").json() == {
            "error": {"message": "request body is not valid JSON", "type": "invalid_request_error"}}
        bad = client.post("/api/decisions", json={"key": 'id:"acme/quest"', "tags": ["nope"]})
        assert bad.status_code == 422 and bad.json()["error"]["message"] == "tag 'nope' is not in the taxonomy"
        assert client.post("/api/skip", json={"key": 'id:"acme/quest"'}).json() == {"reviewed": 1, "total": 3}
        assert client.get("/api/state").json()["queue"] == ["acme/pixel", "acme/quest"]
        assert client.get("/export/label-studio.json").json()[0]["data"]["repository"] == "acme/ledger"
        assert client.get("/export/nothing.json").status_code == 404
        assert client.get("/assets/review.js").headers["content-type"].startswith("text/javascript")
