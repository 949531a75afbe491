import json
import socket
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient

from conftest import make_prompt
from repotag import Settings, Taxonomy
from repotag.service import create_app

README = "# ripgrep\nripgrep is a command-line search tool that recursively searches directories for a regex.\n"
PROMPT = make_prompt("A game engine for 2D and 3D games with a visual editor.", record_id='"55"', limit=1)


@pytest.fixture(scope="module")
def client(tagger):
    settings = Settings(max_body_bytes=50_000, max_batch_items=3)
    with TestClient(create_app(settings, tagger=tagger)) as test_client:
        yield test_client


def error_of(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type"}
    return body["error"]["message"]


def test_tag(client):
    response = client.post("/v1/tag", json={"id": 6186, "readme": README})
    data = response.json()
    assert response.status_code == 200 and data["id"] == 6186 and 1 <= len(data["tags"]) <= 3
    assert all(t in Taxonomy.default().to_list() for t in data["tags"])


def test_tag_with_custom_taxonomy_limit_and_scores(client):
    body = {"id": "x", "readme": README, "taxonomy": ["search", {"id": 9, "name": "cooking"}], "max_tags": 1,
            "scores": True}
    data = client.post("/v1/tag", json=body).json()
    assert data["tags"][0]["name"] == "search" and data["tags"][0]["id"] == 1 and 0 < data["tags"][0]["score"] <= 1


def test_library_and_service_agree(client, tagger):
    assert client.post("/v1/tag", json={"id": "a/b", "readme": README}).json() == tagger.tag(README, "a/b").to_dict()


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"id": 1}, 422, "readme: Field required"),
        ({"readme": "x", "max_tags": 0}, 422, "max_tags: Input should be greater than or equal to 1"),
        ({"readme": "x", "max_tags": 91}, 422, "max_tags 91 exceeds the taxonomy size (90 tags)"),
        ({"readme": "x", "taxonomy": ["a", "A"]}, 422, "taxonomy: duplicate tag name 'A'"),
        ({"readme": "x", "taxonomy": []}, 422, "taxonomy: List should have at least 1 item after validation, not 0"),
        ({"readme": "x", "path": "/etc/passwd"}, 422, "path: Extra inputs are not permitted"),
        ({"readme": "bin\u0000ary"}, 400, "input is binary, not text: give a README in UTF-8 or UTF-16"),
    ],
)
def test_bad_tag_requests_are_4xx_json(client, body, status, message):
    response = client.post("/v1/tag", json=body)
    assert response.status_code == status and error_of(response) == message


def test_malformed_and_oversized_bodies(client):
    response = client.post("/v1/tag", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert error_of(response) == "request body is not valid JSON: Expecting property name enclosed in double quotes"
    response = client.post("/v1/tag", json={"readme": "x" * 60_000})
    assert response.status_code == 413 and error_of(response) == "request body exceeds 50000 bytes"

    def chunks():
        yield b'{"readme": "'
        for _ in range(100):
            yield b"y" * 1000
        yield b'"}'

    response = client.post("/v1/tag", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413

    def small_chunks():
        yield b'{"id": 1, "readme": "'
        yield README.replace("\n", "\\n").encode() + b'"}'

    response = client.post("/v1/tag", content=small_chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 200 and response.json()["id"] == 1


def test_batch(client):
    items = [{"id": 1, "readme": README}, {"id": 2, "readme": "nul\u0000"}, {"id": 3, "readme": ""}]
    results = client.post("/v1/tag/batch", json={"items": items}).json()["results"]
    assert results[0]["id"] == 1 and results[0]["tags"]
    assert results[1] == {"id": 2, "error": "input is binary, not text: give a README in UTF-8 or UTF-16"}
    assert results[2] == {"id": 3, "tags": []}
    response = client.post("/v1/tag/batch", json={"items": items + items})
    assert response.status_code == 413 and error_of(response) == "at most 3 items per batch request"


def test_taxonomy_health_metrics_docs(client):
    assert client.get("/v1/taxonomy").json() == Taxonomy.default().to_list()
    assert client.get("/healthz").json()["status"] == "ok"
    client.post("/v1/tag", json={"readme": README})
    metrics = client.get("/metrics").text
    assert 'repotag_requests_total{path="/v1/tag",status="200"}' in metrics
    assert "repotag_request_seconds_bucket" in metrics and "repotag_errors_total" in metrics
    assert client.get("/docs").status_code == 200 and "/v1/chat/completions" in client.get("/openapi.json").json()["paths"]
    response = client.get("/nope")
    assert response.status_code == 404 and error_of(response) == "Not Found"


def test_docs_pages_load_their_assets_from_the_server_not_a_cdn(client):
    import re

    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assets = re.findall(r'(?:src|href)="([^"]+)"|url: *[\'"]([^\'"]+)', html)
        urls = [a or b for a, b in assets]
        assert urls and not any(u.startswith(("http://", "https://", "//")) for u in urls), urls
        for url in urls:
            assert client.get(url).status_code == 200, url


def test_chat_completions(client):
    body = {"model": "repotag-default", "messages": [{"role": "system", "content": "be terse"},
                                                      {"role": "user", "content": PROMPT}],
            "response_format": {"type": "json_object"}}
    data = client.post("/v1/chat/completions", json=body).json()
    assert data["object"] == "chat.completion" and data["choices"][0]["finish_reason"] == "stop"
    assert json.loads(data["choices"][0]["message"]["content"]) == {"id": "55", "tags": [{"id": 81, "name": "game-engine "}]}
    parts = {"messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}]}
    assert client.post("/v1/chat/completions", json=parts).status_code == 200


@pytest.mark.parametrize(
    "body, message",
    [
        ({"messages": [{"role": "user", "content": "hello there"}]},
         "not a tagging prompt: no 'Assign \"at most N tags\"' instruction found"),
        ({"messages": [{"role": "system", "content": "x"}]}, "no user message with text content"),
        ({"messages": [{"role": "user", "content": PROMPT}], "stream": True}, "streaming is not supported"),
        ({"messages": []}, "messages: List should have at least 1 item after validation, not 0"),
    ],
)
def test_chat_completions_bad_requests(client, body, message):
    response = client.post("/v1/chat/completions", json=body)
    assert 400 <= response.status_code < 500 and error_of(response).startswith(message)


def test_api_key(tagger):
    with TestClient(create_app(Settings(api_key="s3cret"), tagger=tagger)) as keyed:
        assert keyed.post("/v1/tag", json={"readme": README}).status_code == 401
        wrong = keyed.post("/v1/tag", json={"readme": README}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and error_of(wrong).startswith("missing or invalid API key")
        good = keyed.post("/v1/tag", json={"readme": README}, headers={"Authorization": "Bearer s3cret"})
        assert good.status_code == 200
        assert keyed.get("/healthz").status_code == 200


def test_timeout_is_a_503(tagger):
    class Slow:
        taxonomy = tagger.taxonomy

        def tag(self, *args, **kwargs):
            time.sleep(0.5)

    with TestClient(create_app(Settings(request_timeout_s=0.05), tagger=Slow())) as slow:
        response = slow.post("/v1/tag", json={"readme": README})
        assert response.status_code == 503 and error_of(response) == "tagging took longer than 0.05s"


# ---- a real server -------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """A real `repotag serve` on a free port, once it answers /healthz."""
    import os

    import httpx

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "repotag", "serve", "--port", str(port), *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    pytest.fail("server did not start: " + process.stderr.read().decode()[-2000:])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    key_file = tmp_path_factory.mktemp("key") / "api-key"
    key_file.write_text("test-key\n")  # a key file keeps the key out of `ps`
    process, url = start_server("--api-key-file", str(key_file))
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.mark.slow
def test_metrics_of_several_workers_count_the_whole_server():
    import httpx

    process, url = start_server("--workers", "2")
    try:
        with httpx.Client() as client:
            for _ in range(6):
                assert client.post(url + "/v1/tag", json={"readme": README}).status_code == 200
        line = 'repotag_requests_total{path="/v1/tag",status="200"} 6.0'
        for _ in range(4):  # new connections, so scrapes land on both processes
            assert line in httpx.get(url + "/metrics").text
        assert httpx.get(url + "/static-offline-docs/swagger-ui.css").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_openai_client_against_live_server(server, shared):
    from openai import OpenAI

    client = OpenAI(base_url=server + "/v1", api_key="test-key")
    prompts = [PROMPT] + [p.read_text(encoding="utf-8") for p in sorted((shared / "examples" / "prompts").glob("*.txt"))]
    for prompt in prompts:
        completion = client.chat.completions.create(
            model="repotag-default", messages=[{"role": "user", "content": prompt}],
            response_format={"type": "json_object"},
        )
        data = json.loads(completion.choices[0].message.content)
        assert set(data) == {"id", "tags"} and 1 <= len(data["tags"]) <= 3
        assert all(t in Taxonomy.default().to_list() or t == {"id": 81, "name": "game-engine "} for t in data["tags"])
    import openai

    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}])


@pytest.mark.slow
def test_schemathesis_finds_no_server_errors(server):
    done = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", server + "/openapi.json", "--checks", "not_a_server_error",
         "--max-examples", "25", "--header", "Authorization: Bearer test-key", "--request-timeout", "30",
         # Every code point, lone surrogates included (the default utf-8 codec leaves them out), and NUL bytes.
         "--generation-codec", "unicode_escape", "--generation-allow-x00", "true"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:]


def test_shared_listening_socket_gives_connections_tcp_nodelay():
    import asyncio

    from repotag.service import listening_socket

    async def accepted_nodelay() -> int:
        sock = listening_socket("127.0.0.1", 0)
        sock.listen()
        seen = asyncio.get_running_loop().create_future()

        def on_connect(reader, writer):
            raw = writer.get_extra_info("socket")
            seen.set_result(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname())
        value = await asyncio.wait_for(seen, 10)
        writer.close()
        server.close()
        return value

    assert asyncio.run(accepted_nodelay()) != 0


# ---- contract tests with a fake backend: exact replies, no model weights -------------------------------
@pytest.fixture
def fixed_client():
    from repotag import Tagger
    from repotag.backends import FixedScores

    tagger = Tagger(FixedScores({"cli": 0.9, "api": 0.6, "ai": 0.2}))
    with TestClient(create_app(Settings(max_batch_items=2), tagger=tagger)) as test_client:
        yield test_client


def test_exact_replies_from_a_fixed_backend(fixed_client):
    reply = fixed_client.post("/v1/tag", json={"id": 7, "readme": "anything", "scores": True})
    assert reply.status_code == 200
    assert reply.json() == {"id": 7, "tags": [{"id": 4, "name": "cli", "score": 0.9}, {"id": 24, "name": "api", "score": 0.6}]}
    batch = fixed_client.post("/v1/tag/batch", json={"items": [{"id": "a", "readme": "x"}, {"id": "b", "readme": " "}],
                                                     "max_tags": 1})
    assert batch.json() == {"results": [{"id": "a", "tags": [{"id": 4, "name": "cli"}]}, {"id": "b", "tags": []}]}
    chat = fixed_client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": make_prompt("x")}]})
    assert json.loads(chat.json()["choices"][0]["message"]["content"]) == {"id": "42", "tags": [{"id": 4, "name": "cli"}]}


def test_models_lists_the_loaded_backend(fixed_client, client):
    assert fixed_client.get("/v1/models").json()["data"][0]["id"] == "fixed"
    assert client.get("/v1/models").json()["data"][0]["id"] == "repotag-default"


def test_settings_reach_worker_processes_as_one_pickled_object():
    import functools
    import pickle

    settings = Settings(api_key="k", max_batch_items=5)
    factory = pickle.loads(pickle.dumps(functools.partial(create_app, settings)))
    assert factory.args == (settings,)


@pytest.mark.parametrize(
    "body, message",
    [
        ('{"readme": "a \\ud800"}', "readme: text is not valid Unicode (lone surrogate)"),
        ('{"id": "\\udfff", "readme": "x"}', "id: id is not valid Unicode (lone surrogate)"),
        ('{"id": true, "readme": "x"}', "id: id must be a string or number"),
        ('{"id": [1], "readme": "x"}', "id: id must be a string or number"),
        ('{"readme": "x", "taxonomy": [{"id": true, "name": "a"}]}', "taxonomy.0.TagIn.id.int: Input should be a valid integer"),
        ('{"id": NaN, "readme": "x"}', "id: id must be a finite number (NaN and Infinity are not JSON)"),
    ],
)
def test_ids_and_texts_json_cannot_echo_are_422(client, body, message):
    response = client.post("/v1/tag", content=body.encode(), headers={"content-type": "application/json"})
    assert response.status_code == 422 and error_of(response) == message


def test_ids_are_echoed_exactly_null_included(client):
    for record_id in (None, 1.5, 0, "x"):
        assert client.post("/v1/tag", json={"id": record_id, "readme": README}).json()["id"] == record_id


def test_both_length_headers_are_refused_and_real_bytes_are_counted(client):
    def chunks():
        for _ in range(100):
            yield b"y" * 1000

    response = client.post("/v1/tag", content=chunks(), headers={"content-type": "application/json", "content-length": "5",
                                                                  "transfer-encoding": "chunked"})
    assert response.status_code == 400 and error_of(response) == "request has both Content-Length and Transfer-Encoding"


def test_head_healthz_and_huge_prompt_limit(client):
    assert client.head("/healthz").status_code == 200
    prompt = make_prompt("A game engine.").replace("at most 3 tags", "at most " + "9" * 5000 + " tags")
    response = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": prompt}]})
    assert response.status_code == 400
    assert error_of(response) == "prompt asks for at most 999999999999... tags: not a usable tag limit"


def test_timed_out_work_stops_itself(tagger):
    from repotag import _deadline
    from repotag.model import TagModel

    model: TagModel = tagger.backend.model
    with _deadline.within(-1), pytest.raises(_deadline.DeadlineExceeded):
        model.encoder.encode(["a", "b"])
    app = create_app(Settings(request_timeout_s=0.001), tagger=tagger)
    with TestClient(app) as slow_client:
        taxonomy = [f"unseen tag number {i}" for i in range(400)]
        response = slow_client.post("/v1/tag", json={"readme": README, "taxonomy": taxonomy})
    assert response.status_code == 503 and error_of(response) == "tagging took longer than 0.001s"


def test_serve_start_up_failures_are_one_line_and_exit_2(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text('{"format_version": 2}')
    (model / "weights.npz").write_bytes(b"")
    try:
        (tmp_path / "empty-key").write_text("\n")
        for extra, message in [([], f"cannot listen on 127.0.0.1:{port}: Address already in use"),
                               (["--api-key-file", str(tmp_path / "empty-key")],
                                f"the API key file {tmp_path / 'empty-key'} is empty (see 'repotag serve --help')"),
                               (["--port", "0", "--model", str(model), "--workers", "2"],
                                f"model in {model} is damaged or unreadable: KeyError: 'params'")]:
            args = [sys.executable, "-m", "repotag", "serve", "--port", str(port), *extra]
            done = subprocess.run(args, capture_output=True, text=True, timeout=120)
            assert (done.returncode, done.stderr) == (2, f"repotag: error: {message}\n")
    finally:
        busy.close()


def test_min_score_over_http(client):
    body = {"id": "x", "readme": README, "taxonomy": ["cooking", "gardening"], "min_score": 0.9}
    assert client.post("/v1/tag", json=body).json() == {"id": "x", "tags": []}
    batch = client.post("/v1/tag/batch", json={"items": [{"id": 1, "readme": README}], "min_score": 1}).json()
    assert batch == {"results": [{"id": 1, "tags": []}]}
    response = client.post("/v1/tag", json={"readme": README, "min_score": 2})
    assert response.status_code == 422 and error_of(response) == "min_score: Input should be less than or equal to 1"


# ---- an LLM behind the service: its failures are the upstream's ----
def test_llm_failures_are_502_and_504_and_metrics_count_backend_events(llm_server, tmp_path):
    from conftest import answer
    from repotag import Tagger
    from repotag.backends._llm import LLMBackend

    server = llm_server({"rules": [{"match": "DOWN", "responses": [{"status": 500, "error": "out of memory"}]},
                                   {"match": "SLOW", "responses": [{"sleep": 5, **answer("ai")}]}],
                         "default": [answer("CLI", "nonsense")]})
    backend = LLMBackend(server.url, "m", retries=0, timeout_s=0.5, cache=None)
    with TestClient(create_app(Settings(), tagger=Tagger(backend))) as api:
        ok = api.post("/v1/tag", json={"id": 1, "readme": "a tool"})
        assert ok.status_code == 200 and ok.json() == {"id": 1, "tags": [{"id": 4, "name": "cli"}]}
        down = api.post("/v1/tag", json={"readme": "DOWN"})
        assert down.status_code == 502 and down.json() == {"error": {
            "message": "the LLM server answered 500: out of memory (1 try)", "type": "upstream_error"}}
        slow = api.post("/v1/tag", json={"readme": "SLOW"})
        assert slow.status_code == 504 and slow.json()["error"]["type"] == "upstream_timeout_error"
        batch = api.post("/v1/tag/batch", json={"items": [{"id": "a", "readme": "x"}, {"id": "b", "readme": "DOWN"}]})
        assert batch.json() == {"results": [{"id": "a", "tags": [{"id": 4, "name": "cli"}]},
                                            {"id": "b", "error": "the LLM server answered 500: out of memory (1 try)",
                                             "retryable": True}]}
        metrics = api.get("/metrics").text
    assert 'repotag_backend_events_total{event="requests"} 5.0' in metrics
    assert 'repotag_backend_events_total{event="repaired_out_of_list"} 2.0' in metrics
    assert 'repotag_backend_events_total{event="timeouts"} 1.0' in metrics
    assert "repotag_llm_answer_seconds_total" in metrics


def test_an_llm_slower_than_the_request_timeout_is_a_504(llm_server):
    from conftest import answer
    from repotag import Tagger
    from repotag.backends._llm import LLMBackend

    server = llm_server({"default": [{"sleep": 5, **answer("ai")}]})
    backend = LLMBackend(server.url, "m", retries=3, timeout_s=60, cache=None)
    with TestClient(create_app(Settings(request_timeout_s=1.0), tagger=Tagger(backend))) as api:
        slow = api.post("/v1/tag", json={"readme": "a tool"})
    assert slow.status_code == 504 and slow.json()["error"]["message"] == (
        "the LLM server did not answer within 0.75s (1 try)")


@pytest.mark.slow
def test_half_open_connections_are_closed_and_a_stalled_body_is_a_408():
    process, url = start_server(env={"REPOTAG_REQUEST_HEAD_TIMEOUT_S": "1", "REPOTAG_REQUEST_TIMEOUT_S": "2"})
    port = int(url.rsplit(":", 1)[1])
    try:
        for head in (b"", b"POST /v1/tag HTTP/1.1\r\nHost: x\r\n"):  # nothing, then half a head
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(head)
                sock.settimeout(30)
                assert sock.recv(100) == b""  # closed by the server, not held open
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"POST /v1/tag HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{\"readme\"")
            sock.settimeout(30)
            reply = b""
            while not reply.endswith(b"}}"):  # the head and the body may come in separate segments
                piece = sock.recv(1000)
                if not piece:
                    break
                reply += piece
            reply = reply.decode()
        assert reply.startswith("HTTP/1.1 408 ")
        assert reply.endswith('{"error":{"message":"request body not received within 2s","type":"invalid_request_error"}}')
        import httpx

        assert httpx.post(url + "/v1/tag", json={"readme": "a command-line tool"}).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_huge_numbers_are_4xx_or_echoed_exactly(tagger):
    big = "1" + "0" * 400
    with TestClient(create_app(Settings(), tagger=tagger)) as api:
        def post(path, body):
            return api.post(path, content=body, headers={"content-type": "application/json"})

        limit = post("/v1/tag", '{"readme": "x", "max_tags": %s}' % big)
        assert (limit.status_code, error_of(limit)) == (
            422, "max_tags 100000... (401 digits) exceeds the taxonomy size (90 tags)")
        assert post("/v1/tag", '{"readme": "x", "min_score": 1e400}').status_code == 422
        echoed = post("/v1/tag", '{"readme": "a command-line tool", "id": %s}' % big)
        assert echoed.status_code == 200 and echoed.text.startswith('{"id":%s,' % big)
