"""The HTTP service (needs the ``serve`` extra): REST API and OpenAI-compatible chat completions."""

from ._app import create_app, listening_socket, run_server

__all__ = ["create_app", "listening_socket", "run_server"]
