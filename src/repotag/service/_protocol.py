"""uvicorn's h11 protocol, plus a limit on how long a request head (line and headers) may take to arrive.

uvicorn closes idle keep-alive connections only: a connection that sent nothing, or half a request
head, was held open forever (a few thousand such sockets starve the server). The body has its own
limit, in the guard middleware.
"""

from __future__ import annotations

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeadTimeoutH11(H11Protocol):
    """Closes a connection whose request head has not arrived within ``head_timeout_s`` seconds."""

    def __init__(self, *args, head_timeout_s: float = 10.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.head_timeout_s = head_timeout_s
        self._head_timer = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_head()

    def connection_lost(self, exc) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _in_request(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _watch_head(self) -> None:
        if self._in_request():
            self._stop_head_timer()
        elif self._head_timer is None and not self.transport.is_closing():
            # Not restarted by more bytes: a head sent a byte at a time still ends on time.
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_request() and not self.transport.is_closing():
            self.transport.close()
