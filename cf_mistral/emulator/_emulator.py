"""The :class:`Emulator`: a Workers AI stand-in on loopback, in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from ._faults import Fault, FaultKind
from ._server import Server
from ._state import State
from ._tls import EmulatorTLS
from ._types import EmulatorConfig, RecordedRequest, ScriptedReply

__all__ = ["Emulator", "serve"]


class Emulator:
    """A real HTTP/1.1 server emulating Workers AI for one model.

    :attr:`requests` keeps the latest ``max_recorded_requests`` requests (1000 by default;
    ``Emulator(max_recorded_requests=N)``), so that a long-running emulator stays flat in
    memory; :attr:`requests_received` counts them all.

    >>> with Emulator() as emu:                     # doctest: +SKIP
    ...     httpx.post(emu.base_url + f"/accounts/{emu.account_id}/ai/run/{model}", ...)

    ``tls=True`` serves HTTPS with a certificate signed by a CA generated for this emulator
    (needs ``pip install "cf-mistral[tls]"``); clients trust it with ``verify=emu.verify``
    (httpx), ``emu.ssl_context()``, or the PEM at ``emu.ca_cert_path`` (``SSL_CERT_FILE``).
    ``ca_cert_path`` chooses where that PEM is written (default: a temporary file).
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        tls: bool = False,
        ca_cert_path: str | os.PathLike[str] | None = None,
        **overrides: Any,
    ) -> None:
        cfg = config or EmulatorConfig()
        if overrides:
            cfg = cfg.replace(**overrides)
        self._state = State(cfg)
        self._tls = EmulatorTLS(cfg.host, ca_cert_path) if tls else None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._port = 0
        self._last_connections: dict[str, Any] = {}

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> Emulator:
        """Start serving in a background thread (idempotent)."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self._main(ready))
            except BaseException as exc:  # pragma: no cover - surfaced below
                errors.append(exc)
                ready.set()

        self._thread = threading.Thread(target=run, name="cf-mistral-emulator", daemon=True)
        self._thread.start()
        ready.wait(30)
        if errors or not self._port:
            self._thread.join(5)
            self._thread = None
            raise RuntimeError(f"emulator failed to start: {errors[0] if errors else 'timeout'}")
        return self

    async def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._server = Server(
            self._state, self._tls.server_context() if self._tls is not None else None
        )
        cfg = self._state.config
        self._port = await self._server.start(cfg.host, cfg.port)
        ready.set()
        try:
            await self._stop.wait()
        finally:
            await self._server.close()

    def stop(self) -> None:
        """Stop the server, close every connection and join the thread."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        if self._server is not None:
            self._last_connections = self._server.connections.snapshot()
        self._thread = None
        self._loop = None
        self._stop = None
        self._server = None

    close = stop

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Emulator:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- addresses -------------------------------------------------------------------
    @property
    def config(self) -> EmulatorConfig:
        return self._state.config

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = self._state.config.host
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{host}:{self._port}"

    # -- HTTPS -----------------------------------------------------------------------
    @property
    def tls(self) -> bool:
        return self._tls is not None

    @property
    def ca_cert_path(self) -> Path | None:
        """The PEM of the CA that signed the certificate (``None`` over plain HTTP)."""
        return self._tls.ca_cert_path if self._tls is not None else None

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this emulator's CA; an error over plain HTTP."""
        if self._tls is None:
            raise RuntimeError("this emulator serves plain HTTP: build it with Emulator(tls=True)")
        return self._tls.client_context()

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """httpx's ``verify=``: a context trusting the emulator's CA (``True`` over HTTP)."""
        return self.ssl_context() if self._tls is not None else True

    @property
    def base_url(self) -> str:
        """What a client passes as ``base_url`` (``…/client/v4``)."""
        return self.url + "/client/v4"

    @property
    def gateway_url(self) -> str:
        """AI Gateway base (``…/v1``); clients append ``/{acct}/{gw}/workers-ai/{model}``."""
        return self.url + "/v1"

    @property
    def account_id(self) -> str:
        return self._state.config.account_id

    @property
    def token(self) -> str:
        return self._state.config.token or "test-token"

    @property
    def model(self) -> str:
        return self._state.config.models[0]

    def run_url(self, model: str | None = None) -> str:
        """Full native URL for ``model`` (default: the first configured model)."""
        return f"{self.base_url}/accounts/{self.account_id}/ai/run/{model or self.model}"

    @property
    def openai_url(self) -> str:
        return f"{self.base_url}/accounts/{self.account_id}/ai/v1/chat/completions"

    @property
    def headers(self) -> dict[str, str]:
        """``Authorization`` header for the configured token."""
        return {"Authorization": f"Bearer {self.token}"}

    # -- behaviour -------------------------------------------------------------------
    def configure(self, **changes: Any) -> EmulatorConfig:
        """Change config fields at runtime; returns the previous config (reset restores)."""
        return self._state.configure(**changes)

    def script(self, reply: ScriptedReply | None = None, /, **fields: Any) -> ScriptedReply:
        """Queue a scripted reply (``emu.script(text="hi")`` works too)."""
        if reply is None:
            reply = ScriptedReply(**fields)
        elif fields:
            raise TypeError("pass a ScriptedReply or keyword fields, not both")
        self._state.add_script(reply)
        return reply

    def fault(self, fault: Fault | FaultKind | str, /, **fields: Any) -> Fault:
        """Queue a fault for the next request (FIFO, one per request)."""
        if not isinstance(fault, Fault):
            fault = Fault(kind=FaultKind(fault), **fields)
        self._state.add_fault(fault)
        return fault

    def set_fault_rate(
        self, rate: float, kinds: Iterable[FaultKind | str] | None = None, seed: int | None = 0
    ) -> None:
        """Fail a fraction of requests (deterministic for a given ``seed``)."""
        self._state.set_fault_rate(rate, kinds, seed)

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._state.requests

    @property
    def last_request(self) -> RecordedRequest | None:
        reqs = self._state.requests
        return reqs[-1] if reqs else None

    def clear_requests(self) -> None:
        self._state.clear_requests()

    @property
    def requests_received(self) -> int:
        """Requests received since the last clear; :attr:`requests` keeps only the latest
        ``max_recorded_requests`` (1000 by default) of them."""
        return self._state.requests_received

    @property
    def faults_injected(self) -> int:
        """Faults served from the queue or the fault rate since the last clear."""
        return self._state.faults_injected

    def reset(self) -> None:
        """Drop scripts, faults, fault rate, recorded requests, counters; restore config."""
        self._state.reset()
        if self._server is not None:
            self._server.connections.reset()

    @property
    def connections_opened(self) -> int:
        return self._state.connections_opened

    @property
    def connections(self) -> dict[str, Any]:
        """New connections in all and per client, connections open now and at most.

        ``{"opened": n, "open": n, "peak_open": n, "by_client": {client: n}}``; a client is
        the ``X-Emulator-Client`` header of a connection's first request, else its peer IP.
        Also served at ``GET /__emulator/connections`` (``DELETE`` zeroes it, as does reset).
        """
        server = self._server
        return server.connections.snapshot() if server is not None else self._last_connections

    def __repr__(self) -> str:
        return f"Emulator({self.url if self._port else 'stopped'})"


def serve(
    host: str = "127.0.0.1",
    port: int = 8787,
    config: EmulatorConfig | None = None,
    *,
    tls: bool = False,
    ca_cert_path: str | os.PathLike[str] | None = None,
) -> None:
    """Run the emulator in the foreground until Ctrl-C (for the CLI).

    With ``tls``, a second line gives the CA certificate's path, for clients to trust.
    """
    cfg = (config or EmulatorConfig()).replace(host=host, port=port)
    emu = Emulator(cfg, tls=tls, ca_cert_path=ca_cert_path).start()
    try:
        print(
            f"Workers AI emulator listening on {emu.url} "
            f"(account {cfg.account_id}, token {cfg.token})",
            flush=True,
        )
        if emu.ca_cert_path is not None:
            print(
                f"CA certificate: {emu.ca_cert_path} "
                f"(trust it with SSL_CERT_FILE={emu.ca_cert_path})",
                flush=True,
            )
        stop = threading.Event()
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
