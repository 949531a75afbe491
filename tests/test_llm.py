"""The LLM backend and the cascade, against a real HTTP server process speaking chat completions (tests/llm_server.py)."""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import FixtureLLM, answer
from repotag import BackendError, BackendTimeout, ConfigError, Settings, Tagger, Taxonomy, parse_prompt
from repotag.backends import CascadeBackend, FixedScores, LLMBackend, get_backend
from repotag.backends._llm import _retry_after
from repotag.backends._llm_answer import load_template, rank_scores, read_answer, render_prompt, response_format
from repotag.backends._llm_cache import AnswerCache
from repotag.cli import main

TAXONOMY = Taxonomy.from_json([{"id": 17, "name": "ai"}, {"id": 4, "name": "cli"}, {"id": 81, "name": "game-engine "},
                               {"id": 33, "name": "lib"}, {"id": 20, "name": "web-app"}])


def backend_for(server: FixtureLLM, tmp_path: Path, **options) -> LLMBackend:
    options.setdefault("cache", AnswerCache(tmp_path / "cache.sqlite3"))
    options.setdefault("timeout_s", 5.0)
    return LLMBackend(server.url, "m", **options)


# ---- the answer held to the rules (no server) ----------------------------------------
def test_answer_repairs_are_exact_and_counted():
    content = '{"tags": ["CLI ", "nonsense", "cli", "x", {"id": 17}, {"name": "Game-Engine"}, "lib", "web-app"]}'
    read = read_answer(content, TAXONOMY, 3)
    assert [t.name for t in read.tags] == ["cli", "ai", "game-engine "]
    assert read.repairs == {"renamed": 2, "out_of_list": 2, "duplicate": 1, "over_limit": 2}


@pytest.mark.parametrize("content, names", [
    ('```json\n{"tags": ["ai"]}\n```', ["ai"]),
    ('Here you go: {"tags": ["lib", "ai"]} Hope it helps', ["lib", "ai"]),
    ('["web-app"]', ["web-app"]),
    ('{"id": "6186", "tags": [{"id": 4, "name": "cli"}]}', ["cli"]),  # the seed prompt's expected JSON
    ('{"tags": []}', []),
])
def test_answer_shapes_read(content, names):
    assert [t.name.strip() for t in read_answer(content, TAXONOMY, 3).tags] == names


@pytest.mark.parametrize("content", ["{tags: cli", "", '{"labels": ["ai"]}', '"ai"'])
def test_unreadable_answers_are_refused(content):
    from repotag.backends._llm_answer import AnswerError

    with pytest.raises(AnswerError):
        read_answer(content, TAXONOMY, 3)


def test_scores_are_the_llm_rank():
    tags = [TAXONOMY[3], TAXONOMY[0]]
    assert rank_scores(tags, TAXONOMY) == [0.5, 0.0, 0.0, 1.0, 0.0]


def test_schema_lists_the_exact_names_and_the_limit():
    shape = response_format("json_schema", TAXONOMY, 2)
    tags = shape["json_schema"]["schema"]["properties"]["tags"]
    assert tags["items"]["enum"] == ["ai", "cli", "game-engine ", "lib", "web-app"] and tags["maxItems"] == 2
    assert response_format("json_object", TAXONOMY, 2) == {"type": "json_object"}
    assert response_format("text", TAXONOMY, 2) is None


def test_seed_template_renders_the_prompt_users_paste_today():
    prompt = render_prompt(load_template("seed"), "# Tool\nA CLI.", TAXONOMY, 2, "6186")
    parsed = parse_prompt(prompt)
    assert (parsed.readme, parsed.id, parsed.max_tags, parsed.taxonomy) == ("# Tool\nA CLI.", "6186", 2, TAXONOMY)


def test_templates_are_checked(tmp_path):
    (tmp_path / "ok.txt").write_text("Tags $tags, at most ${max_tags}: $readme costs $$5")
    assert "costs $5" in render_prompt(load_template(str(tmp_path / "ok.txt")), "R", TAXONOMY, 3)
    (tmp_path / "unknown.txt").write_text("$readme $language")
    with pytest.raises(ConfigError, match="unknown placeholder.*language"):
        load_template(str(tmp_path / "unknown.txt"))
    (tmp_path / "no-readme.txt").write_text("$tags")
    with pytest.raises(ConfigError, match="no \\$readme"):
        load_template(str(tmp_path / "no-readme.txt"))
    with pytest.raises(ConfigError, match="cannot read prompt template"):
        load_template(str(tmp_path / "missing.txt"))


def test_retry_after_is_read_and_capped():
    assert _retry_after("2") == 2.0 and _retry_after("-3") == 0.0 and _retry_after("99999") == 60.0
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: at once
    assert _retry_after(None) is None and _retry_after("soon") is None


def test_api_key_comes_from_the_environment_and_is_never_shown():
    settings = Settings.from_env({"OPENAI_API_KEY": "sk-open"})
    assert settings.llm_api_key == "sk-open" and "sk-open" not in repr(settings)
    assert Settings.from_env({"OPENAI_API_KEY": "sk-open", "REPOTAG_LLM_API_KEY": "sk-rt"}).llm_api_key == "sk-rt"
    result = CliRunner().invoke(main, ["tag", "-", "--backend", "llm", "--llm-api-key", "k"], input="x")
    assert result.exit_code == 2 and "No such option '--llm-api-key'" in result.stderr


def test_missing_server_or_model_is_a_one_line_error(tmp_path):
    (tmp_path / "r.md").write_text("A tool.")
    result = CliRunner().invoke(main, ["tag", str(tmp_path / "r.md"), "--backend", "llm", "--llm-model", "m"],
                                env={"REPOTAG_LLM_BASE_URL": ""})
    assert result.exit_code == 2
    assert result.stderr == ("repotag: error: the LLM backend needs a server: --llm-base-url URL "
                             "(or REPOTAG_LLM_BASE_URL)\n")
    with pytest.raises(ConfigError, match="needs a model name"):
        get_backend("llm").load(Settings(llm_base_url="http://127.0.0.1:9/v1"))
    with pytest.raises(ConfigError, match="must start with http"):
        LLMBackend("127.0.0.1:9", "m")
    with pytest.raises(TypeError, match="unexpected option.*base_url"):
        Tagger.load(backend="llm", base_url="http://x")


# ---- against the fixture server ------------------------------------------------
def test_a_valid_answer_and_the_request_it_came_from(llm_server, tmp_path):
    server = llm_server({"default": [answer("lib", "ai")]})
    backend = backend_for(server, tmp_path, api_key="sk-secret")
    result = Tagger(backend, TAXONOMY).tag("# Tensor lib\nNumerical library.", id="t/l", max_tags=2)
    assert result.to_dict(scores=True) == {"id": "t/l", "tags": [{"id": 33, "name": "lib", "score": 1.0},
                                                                 {"id": 17, "name": "ai", "score": 0.5}]}
    (request,) = server.requests()
    body = request["body"]
    assert request["auth"] == "Bearer sk-secret"
    assert body["model"] == "m" and body["temperature"] == 0
    assert body["response_format"]["json_schema"]["schema"]["properties"]["tags"]["maxItems"] == 2
    prompt = body["messages"][0]["content"]
    assert "# Tensor lib\nNumerical library." in prompt and "at most 2 tags" in prompt and "- game-engine\n" in prompt


def test_misbehaving_answers_are_held_to_the_rules(llm_server, tmp_path):
    server = llm_server({"rules": [
        {"match": "FIVE", "responses": [answer("web-app", "lib", "ai", "cli", "game-engine ")]},
        {"match": "OUTSIDE", "responses": [answer("blockchain", "Rust", "x", "AI")]},
        {"match": "DUPES", "responses": [answer("CLI", "cli", " cli ", "Lib")]},
        {"match": "NONE", "responses": [answer()]},
    ]})
    backend = backend_for(server, tmp_path)
    tagger = Tagger(backend, TAXONOMY)
    results = tagger.tag_many([{"id": k, "readme": f"README {k}"} for k in ("FIVE", "OUTSIDE", "DUPES", "NONE")])
    assert {r.id: [t.tag.name for t in r.tags] for r in results} == {
        "FIVE": ["web-app", "lib", "ai"], "OUTSIDE": ["ai"], "DUPES": ["cli", "lib"], "NONE": []}
    stats = backend.stats()
    assert {k: v for k, v in stats.items() if k.startswith("repaired_")} == {
        "repaired_over_limit": 2, "repaired_out_of_list": 3, "repaired_renamed": 4, "repaired_duplicate": 2}
    assert stats["requests"] == 4 and stats["answers"] == 4


def test_broken_json_gets_one_retry_then_an_error(llm_server, tmp_path):
    server = llm_server({"rules": [
        {"match": "ONCE", "responses": [{"content": "{tags: [cli"}, answer("cli")]},
        {"match": "TWICE", "responses": [{"content": "not json"}]},
        {"match": "EMPTY", "responses": [{"body": "{}"}]},
    ]})
    tagger = Tagger(backend_for(server, tmp_path), TAXONOMY)
    results = list(tagger.tag_many([{"id": k, "readme": k} for k in ("ONCE", "TWICE", "EMPTY")], errors="record"))
    assert results[0].to_dict() == {"id": "ONCE", "tags": [{"id": 4, "name": "cli"}]}
    assert results[1].to_dict() == {"id": "TWICE", "error": "the LLM's answer could not be read, twice: answer is not "
                                                            "JSON: 'not json'", "retryable": True}
    assert results[2].error == "the LLM's answer could not be read, twice: the server's reply has no answer text"
    retry = [r["body"]["messages"] for r in server.requests() if r["rule"] == 0][1]
    assert retry[1] == {"role": "assistant", "content": "{tags: [cli"}
    assert retry[2]["content"].startswith("Your answer could not be read (answer is not JSON")
    with pytest.raises(BackendError, match="could not be read, twice"):
        tagger.tag("TWICE")


def test_429_and_500_are_retried_honouring_retry_after(llm_server, tmp_path, monkeypatch):
    waits = []
    monkeypatch.setattr("repotag.backends._llm.time.sleep", waits.append)
    server = llm_server({"rules": [
        {"match": "LIMITED", "responses": [{"status": 429, "headers": {"Retry-After": "7"}}, answer("ai")]},
        {"match": "FLAKY", "responses": [{"status": 500}, {"status": 503}, answer("cli")]},
        {"match": "DOWN", "responses": [{"status": 500, "error": "model crashed"}]},
        {"match": "DENIED", "responses": [{"status": 401, "error": "bad key"}]},
    ]})
    backend = backend_for(server, tmp_path, retries=2)
    tagger = Tagger(backend, TAXONOMY)
    assert [t.tag.name for t in tagger.tag("LIMITED").tags] == ["ai"]
    assert waits == [7.0]
    assert [t.tag.name for t in tagger.tag("FLAKY").tags] == ["cli"]
    assert len(waits) == 3 and all(0.3 <= w <= 1.3 for w in waits[1:])  # backoff 0.5 s, then 1 s, with jitter
    with pytest.raises(BackendError, match="^the LLM server answered 500: model crashed \\(3 tries\\)$"):
        tagger.tag("DOWN")
    with pytest.raises(BackendError, match="^the LLM server answered 401: bad key$"):
        tagger.tag("DENIED")
    assert [r["rule"] for r in server.requests()].count(3) == 1  # a 4xx is not retried


def test_a_hang_ends_at_the_timeout(llm_server, tmp_path):
    server = llm_server({"default": [{"sleep": 10, **answer("ai")}]})
    backend = backend_for(server, tmp_path, timeout_s=0.5, retries=1)
    with pytest.raises(BackendTimeout, match="^the LLM server did not answer within 0.5s \\(2 tries\\)$"):
        Tagger(backend, TAXONOMY).tag("anything")
    assert backend.stats()["timeouts"] == 2


def test_a_refused_schema_steps_down_to_json_mode_then_prompt_only(llm_server, tmp_path):
    server = llm_server({"refuse_formats": ["json_schema", "json_object"], "default": [answer("cli")]})
    backend = backend_for(server, tmp_path)
    assert [t.tag.name for t in Tagger(backend, TAXONOMY).tag("a").tags] == ["cli"]
    formats = [(r["body"].get("response_format") or {}).get("type") for r in server.requests()]
    assert formats == ["json_schema", "json_object", None]
    Tagger(backend, TAXONOMY).tag("b")  # remembered: no more refused requests
    assert len(server.requests()) == 4


def test_an_explicit_format_is_not_stepped_down(llm_server, tmp_path):
    server = llm_server({"refuse_formats": ["json_schema"], "default": [answer("cli")]})
    with pytest.raises(BackendError, match="answered 400: response_format json_schema is not supported"):
        Tagger(backend_for(server, tmp_path, answer_format="json_schema"), TAXONOMY).tag("a")


def test_the_cache_answers_a_second_time_and_can_be_bypassed(llm_server, tmp_path):
    server = llm_server({"default": [answer("ai")]})
    first = Tagger(backend_for(server, tmp_path), TAXONOMY)
    assert first.tag("same README").to_dict() == first.tag("same README").to_dict()
    assert len(server.requests()) == 1 and first.backend.stats()["cache_hits"] == 1
    other = Tagger(backend_for(server, tmp_path), TAXONOMY)  # a new process would open the same file
    other.tag("same README")
    other.tag("same README", max_tags=1)  # another request: another key
    Tagger(backend_for(server, tmp_path, cache=None), TAXONOMY).tag("same README")
    assert len(server.requests()) == 3
    with sqlite3.connect(tmp_path / "cache.sqlite3") as db:
        assert db.execute("SELECT COUNT(*), MIN(model) FROM answers").fetchone() == (2, "m")


def test_an_unwritable_cache_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot open the LLM answer cache .*--no-cache"):
        AnswerCache(blocker / "cache.sqlite3")


def test_cli_prints_contract_json_or_one_line_errors(llm_server, tmp_path):
    server = llm_server({"rules": [
        {"match": "GOOD", "responses": [answer("CLI", "cli", "ai", "lib", "blockchain")]},
        {"match": "BAD", "responses": [{"content": "no json here"}]},
    ]})
    (tmp_path / "good.md").write_text("GOOD tool")
    (tmp_path / "bad.md").write_text("BAD tool")
    base = ["--backend", "llm", "--llm-base-url", server.url, "--llm-model", "m",
            "--llm-cache", str(tmp_path / "c.sqlite3")]
    good = CliRunner().invoke(main, ["tag", str(tmp_path / "good.md"), "--id", "6186", *base])
    assert good.exit_code == 0
    assert json.loads(good.stdout) == {"id": "6186", "tags": [{"id": 4, "name": "cli"}, {"id": 17, "name": "ai"},
                                                              {"id": 33, "name": "lib"}]}
    bad = CliRunner().invoke(main, ["tag", str(tmp_path / "bad.md"), *base])
    assert bad.exit_code == 2 and bad.stdout == ""
    assert bad.stderr == "repotag: error: the LLM's answer could not be read, twice: answer is not JSON: 'no json here'\n"


MISBEHAVIOURS = {
    "valid": ([answer("cli", "ai")], '{"id": "x", "tags": [{"id": 4, "name": "cli"}, {"id": 17, "name": "ai"}]}'),
    "out-of-list": ([answer("kubernetes-operator", "ai")], '{"id": "x", "tags": [{"id": 17, "name": "ai"}]}'),
    "five tags": ([answer("web-app", "lib", "ai", "cli", "game-engine ")],
                  '{"id": "x", "tags": [{"id": 20, "name": "web-app"}, {"id": 33, "name": "lib"}, {"id": 17, "name": "ai"}]}'),
    "duplicates": ([answer("AI", "ai", " Ai ")], '{"id": "x", "tags": [{"id": 17, "name": "ai"}]}'),
    "broken json once": ([{"content": "{tags: "}, answer("lib")], '{"id": "x", "tags": [{"id": 33, "name": "lib"}]}'),
    "429 then success": ([{"status": 429, "headers": {"Retry-After": "0"}}, answer("cli")],
                         '{"id": "x", "tags": [{"id": 4, "name": "cli"}]}'),
    "500 then success": ([{"status": 500}, answer("cli")], '{"id": "x", "tags": [{"id": 4, "name": "cli"}]}'),
    "broken json twice": ([{"content": "{tags: "}],
                          "repotag: error: the LLM's answer could not be read, twice: answer is not JSON: '{tags:'"),
    "always 500": ([{"status": 500, "error": "boom"}], "repotag: error: the LLM server answered 500: boom (2 tries)"),
    "hang": ([{"sleep": 10, **answer("ai")}], "repotag: error: the LLM server did not answer within 0.5s (2 tries)"),
}


@pytest.mark.parametrize("case", MISBEHAVIOURS)
def test_cli_gives_contract_json_or_one_line_for_each_misbehaviour(case, llm_server, tmp_path):
    responses, expected = MISBEHAVIOURS[case]
    server = llm_server({"default": responses})
    taxonomy = tmp_path / "tags.json"
    taxonomy.write_text(json.dumps(TAXONOMY.to_list()))
    (tmp_path / "r.md").write_text("A README.")
    result = CliRunner().invoke(main, [
        "tag", str(tmp_path / "r.md"), "--id", "x", "--taxonomy", str(taxonomy), "--backend", "llm",
        "--llm-base-url", server.url, "--llm-model", "m", "--llm-timeout", "0.5", "--llm-retries", "1", "--no-cache"])
    if expected.startswith("{"):
        assert (result.exit_code, result.stdout, result.stderr) == (0, expected + "\n", "")
    else:
        assert (result.exit_code, result.stdout, result.stderr) == (2, "", expected + "\n")


def test_prompt_command_uses_the_prompts_own_taxonomy_and_limit(llm_server, tmp_path):
    from conftest import make_prompt

    server = llm_server({"default": [answer("game-engine", "ai")]})
    (tmp_path / "p.txt").write_text(make_prompt("An engine for games.", limit=1))
    result = CliRunner().invoke(main, ["prompt", str(tmp_path / "p.txt"), "--backend", "llm", "--llm-base-url",
                                       server.url, "--llm-model", "m", "--no-cache"])
    assert result.exit_code == 0 and json.loads(result.stdout) == {"id": "42", "tags": [{"id": 81, "name": "game-engine "}]}
    schema = server.requests()[0]["body"]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["tags"] == {"type": "array", "items": {"type": "string", "enum": ["ai", "cli", "game-engine "]},
                                            "maxItems": 1}


def test_requests_run_concurrently_up_to_the_limit(llm_server, tmp_path):
    server = llm_server({"default": [{"sleep": 0.3, **answer("ai")}]})
    backend = backend_for(server, tmp_path, concurrency=4)
    results = list(Tagger(backend, TAXONOMY).tag_many([f"README {i}" for i in range(8)]))
    assert [[t.tag.name for t in r.tags] for r in results] == [["ai"]] * 8
    assert backend.stats()["requests"] == 8


# ---- the cascade ------------------------------------------------------------------
def sure_or_not(document):
    """Fixed first-stage scores: READMEs saying 'sure' score 0.9 for cli, others 0.2."""
    return {"cli": 0.9} if "sure" in document.text else {"cli": 0.2}


def test_cascade_asks_the_llm_only_when_unsure(llm_server, tmp_path):
    server = llm_server({"rules": [{"match": "FAILS", "responses": [{"status": 500}]}], "default": [answer("ai", "lib")]})
    cascade = CascadeBackend(FixedScores(sure_or_not, taxonomy=TAXONOMY), backend_for(server, tmp_path, retries=0),
                             below=0.5)
    tagger = Tagger(cascade, TAXONOMY)
    records = [{"id": 1, "readme": "sure thing"}, {"id": 2, "readme": "maybe"}, {"id": 3, "readme": "FAILS maybe"}]
    results = [r.to_dict(scores=True) for r in tagger.tag_many(records, errors="record")]
    assert results == [
        {"id": 1, "tags": [{"id": 4, "name": "cli", "score": 0.9}]},
        {"id": 2, "tags": [{"id": 17, "name": "ai", "score": 1.0}, {"id": 33, "name": "lib", "score": 0.5}]},
        {"id": 3, "error": "the LLM server answered 500: scripted error (1 try)", "retryable": True},
    ]
    assert len(server.requests()) == 2
    stats = cascade.stats()
    assert (stats["cascade_first"], stats["cascade_second"], stats["errors"]) == (1, 2, 1)


def test_cascade_and_llm_are_registered_backends():
    assert get_backend("cascade") is CascadeBackend and get_backend("llm") is LLMBackend


# ---- batch: error records, resume, summary -----------------------------------------------
def test_batch_error_records_are_retried_on_resume_and_the_cache_spares_repeats(llm_server, tmp_path):
    from repotag.batch import run_batch

    server = llm_server({"rules": [{"match": "README 2", "responses": [{"status": 503}, answer("cli")]}],
                         "default": [answer("ai")]})
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "readme": f"README {i}"}) + "\n" for i in range(4)))
    settings = Settings(backend="llm", llm_base_url=server.url, llm_model="m", llm_retries=0,
                        llm_cache=tmp_path / "c.sqlite3")
    output = tmp_path / "out.jsonl"
    first = run_batch(source, output, settings=settings, workers=1, taxonomy=TAXONOMY)
    assert (first.done, first.errors) == (4, 1)
    assert json.loads(output.read_text().splitlines()[2]) == {
        "id": 2, "error": "the LLM server answered 503: scripted error (1 try)", "retryable": True}
    assert "LLM: 4 requests, 0 cache hits, 0 retries, 1 failed" in first.format()
    again = run_batch(source, output, settings=settings, workers=1, taxonomy=TAXONOMY, resume=True)
    assert (again.done, again.skipped, again.errors) == (1, 3, 0)
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == [0, 1, 2, 3] and all("tags" in r for r in rows)
    assert len(server.requests()) == 5  # the 3 answered READMEs were not asked again
    fresh = run_batch(source, tmp_path / "again.jsonl", settings=settings, workers=1, taxonomy=TAXONOMY)
    assert fresh.backend["cache_hits"] == 4 and len(server.requests()) == 5


@pytest.mark.slow
def test_cascade_batch_killed_and_resumed_gives_every_id_once_without_repeated_calls(llm_server, tmp_path):
    import signal
    import time

    server = llm_server({"default": [{"sleep": 0.15, **answer("cli")}]})
    source = tmp_path / "in.jsonl"
    # Nonsense READMEs: the embedded model is unsure of them, so each goes to the LLM.
    source.write_text("".join(json.dumps({"id": f"r{i}", "readme": f"zq{i} xv{i} wk{i}"}) + "\n" for i in range(120)))
    output = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "repotag", "batch", str(source), "-o", str(output), "--workers", "1",
               "--backend", "cascade", "--llm-below", "0.99", "--llm-base-url", server.url, "--llm-model", "m",
               "--llm-concurrency", "2", "--llm-cache", str(tmp_path / "c.sqlite3")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not output.exists() or output.read_text().count("\n") < 64):
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = {json.loads(line)["id"] for line in output.read_text().splitlines() if line.endswith("}")}
    asked_before = len(server.requests())
    assert 0 < len(written) < 120
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    ids = [json.loads(line)["id"] for line in output.read_text().splitlines()]
    assert sorted(ids) == sorted(f"r{i}" for i in range(120))
    asked_after = [r["body"]["messages"][0]["content"] for r in server.requests()[asked_before:]]
    assert not [i for i in written if any(f"zq{i[1:]} " in prompt for prompt in asked_after)]
    assert "cascade: 0 kept by the model" in resumed.stderr and "sent to the LLM" in resumed.stderr


def test_a_failing_cache_fails_the_readme_retryably(tmp_path):
    cache = AnswerCache(tmp_path / "c.sqlite3")
    cache._db.close()  # as if the file vanished under a running batch
    with pytest.raises(BackendError, match="^the LLM answer cache .*c.sqlite3 failed: "):
        cache.get("key")
