"""The HTTP service app: routers, error handlers, the guard middleware, and the uvicorn runner.

Every route goes through the same :class:`~repotag.Tagger` as the CLI. Bad input is
always a 4xx with a JSON body ``{"error": {"message", "type"}}``, never a 500.
"""

from __future__ import annotations

import functools
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from .. import __version__
from .._config import Settings
from ._errors import install_error_handlers
from ._guard import GuardMiddleware, Metrics
from ._routes import openai_api, ops, tagging


def create_app(settings: Settings | None = None, tagger=None) -> FastAPI:
    """Build the app; the backend loads once at start-up (or use the given ``tagger``)."""
    settings = settings or Settings.from_env()

    def load_tagger():
        """Used when the app runs without its lifespan, inside a caller's process: BLAS is left alone."""
        from .._tagger import Tagger

        return Tagger.load(max_tags=settings.max_tags, settings=settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.tagger is None:
            from .._tagger import start_worker

            # A server process is repotag's own; requests already run in parallel threads.
            app.state.tagger = start_worker(settings, max_tags=settings.max_tags)
        yield

    # /docs and /redoc serve Swagger UI and ReDoc from the installed package, not a CDN: they work offline.
    app = FastAPIOffline(
        title="repotag",
        version=__version__,
        description="Tag software repositories from their README with at most N tags from a controlled list.",
        lifespan=lifespan,
    )
    app.state.settings, app.state.tagger, app.state.load_tagger = settings, tagger, load_tagger
    app.state.metrics = Metrics()
    install_error_handlers(app)
    routers = (ops, tagging, openai_api)
    for router in routers:
        app.include_router(router)
    # Metrics label known paths by name and the rest as "other", so labels stay bounded.
    known = {route.path for router in routers for route in router.routes}
    known |= {route.path for route in app.routes if hasattr(route, "path")}
    app.add_middleware(GuardMiddleware, settings=settings, metrics=app.state.metrics, known_paths=known)
    return app


def http_protocol(head_timeout_s: float):
    """The protocol uvicorn runs: h11 with a limit on how long a request head may take (picklable for workers)."""
    from ._protocol import HeadTimeoutH11

    return functools.partial(HeadTimeoutH11, head_timeout_s=head_timeout_s)


def run_server(settings: Settings, host: str, port: int, workers: int = 1, log_level: str = "info") -> None:
    """Serve the app with uvicorn in ``workers`` processes; each builds it from the same ``settings``."""
    import uvicorn

    from .._tagger import start_worker

    # Start-up failures end here, before uvicorn, with one error line and exit 2:
    # a port in use, a damaged model (uvicorn would print its log and exit 3, or 0 with workers).
    sock = listening_socket(host, port)
    tagger = start_worker(settings, max_tags=settings.max_tags)
    if workers == 1:
        sock.close()
        factory = functools.partial(create_app, settings, tagger)
        uvicorn.run(factory, factory=True, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5,
                    http=http_protocol(settings.request_head_timeout_s))
        return
    del tagger  # it was the check; each worker process loads its own
    # A partial of a module-level function and a frozen dataclass pickles into spawned workers:
    # settings travel as one validated object, not through environment variables.
    factory = functools.partial(create_app, settings)
    import os
    import shutil
    import tempfile

    from uvicorn.supervisors import Multiprocess

    from ._guard import MULTIPROCESS_DIR

    config = uvicorn.Config(factory, factory=True, host=host, port=port, workers=workers, log_level=log_level,
                            timeout_graceful_shutdown=5, http=http_protocol(settings.request_head_timeout_s))
    print(f"repotag serving on http://{host}:{port} with {workers} workers", flush=True)
    # prometheus_client reads this variable when it is imported, so it reaches the workers through
    # the environment: one scrape then counts every process, not the one that answered.
    metrics_dir = tempfile.mkdtemp(prefix="repotag-metrics-")
    os.environ[MULTIPROCESS_DIR] = metrics_dir
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def listening_socket(host: str, port: int):
    """A bound TCP socket that worker processes can share.

    uvicorn binds its multi-worker socket with protocol 0, and asyncio sets TCP_NODELAY
    only on IPPROTO_TCP sockets: with Nagle left on, each keep-alive reply waited ~40 ms
    for a delayed ACK (p50 60 ms instead of 15). Made with IPPROTO_TCP, accepted
    connections get TCP_NODELAY.
    """
    import socket

    from .._errors import ConfigError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock
