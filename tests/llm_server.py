"""A scripted chat-completions server: the LLM the tests (and the cascade benchmark) talk to over real HTTP.

    python tests/llm_server.py SCRIPT.json --log requests.jsonl      # prints the port it listens on

The script says what to answer::

    {"rules": [{"match": "CASE-429", "responses": [{"status": 429, "headers": {"Retry-After": "0"}},
                                                   {"content": "{\\"tags\\": [\\"cli\\"]}"}]}],
     "default": [{"content": "{\\"tags\\": []}"}],
     "refuse_formats": ["json_schema"]}

A request takes the first rule whose ``match`` occurs in its user messages (else ``default``);
the n-th request of a rule gets its n-th response (the last one repeats). A response is
``{"content"}`` (a chat completion with that answer text), ``{"status", "error", "headers"}``,
``{"body"}`` (raw bytes as the reply) or ``{"sleep": seconds}`` first. A request whose
``response_format`` type is in ``refuse_formats`` is answered 400, as servers without it do.
Every request is appended to the log as ``{"rule", "n", "auth", "body"}`` (``auth``: its Authorization header).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Script:
    def __init__(self, data: dict, log_path: str | None):
        self.rules = data.get("rules", [])
        self.default = data.get("default", [{"status": 500, "error": "no rule matches this request"}])
        self.refuse = set(data.get("refuse_formats", []))
        self.counts: dict[int, int] = {}
        self.lock = threading.Lock()
        self.log_path = log_path

    def respond(self, body: dict, authorization: str | None = None) -> dict:
        messages = body.get("messages") or []
        text = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
        fmt = (body.get("response_format") or {}).get("type")
        with self.lock:
            rule = next((i for i, r in enumerate(self.rules) if r["match"] in text), -1)
            n = self.counts.get(rule, 0)
            self.counts[rule] = n + 1
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as log:
                    log.write(json.dumps({"rule": rule, "n": n, "auth": authorization, "body": body}) + "\n")
        if fmt in self.refuse:
            return {"status": 400, "error": f"response_format {fmt} is not supported"}
        responses = self.rules[rule]["responses"] if rule >= 0 else self.default
        return responses[min(n, len(responses) - 1)]


def make_handler(script: Script):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _reply(self, status: int, payload: bytes, headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self):
            self._reply(200, b'{"object": "list", "data": [{"id": "m", "object": "model"}]}')

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                self._reply(400, b'{"error": {"message": "body is not JSON"}}')
                return
            response = script.respond(body, self.headers.get("Authorization"))
            if response.get("sleep"):
                time.sleep(response["sleep"])
            if "body" in response:
                self._reply(response.get("status", 200), response["body"].encode())
                return
            status = response.get("status", 200)
            if status != 200:
                error = {"error": {"message": response.get("error", "scripted error"), "type": "scripted"}}
                self._reply(status, json.dumps(error).encode(), response.get("headers"))
                return
            completion = {
                "id": "chatcmpl-fixture", "object": "chat.completion", "created": 0, "model": body.get("model"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": response["content"]}}],
            }
            self._reply(200, json.dumps(completion).encode(), response.get("headers"))

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script")
    parser.add_argument("--log", default=None)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with open(args.script, encoding="utf-8") as handle:
        script = Script(json.load(handle), args.log)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(script))
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
