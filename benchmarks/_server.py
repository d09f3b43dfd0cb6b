"""The emulator in its own process on loopback, and a small client for its admin endpoints.

The server must not share a process (or a GIL) with the contenders: its work would then be
billed to whichever contender happens to be running.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import httpx

__all__ = ["EmulatorProcess"]

_START_CODE = "from cf_mistral.emulator import serve; serve(port=0, tls={tls})"


def _pin_apart(server_pid: int) -> set[int] | None:
    """The emulator on the last CPU, this process on the others, where the OS allows it.

    On two cores, client and server otherwise migrate and preempt each other, and the bursts
    of 200 calls moved by ±15 % between runs; each on its own core, the scheduler stays out of
    the figures. Both sides keep the same CPUs for every contender, so no one is favoured, and
    processes started meanwhile (the memory and import measurements) stay off the emulator's
    CPU too. Returns this process's CPUs from before, to restore when the emulator stops.
    """
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    if len(cpus) < 2 or os.environ.get("CF_MISTRAL_BENCH_NO_PIN"):
        return None
    os.sched_setaffinity(server_pid, {cpus[-1]})
    os.sched_setaffinity(0, set(cpus[:-1]))
    return set(cpus)


class EmulatorProcess:
    """``with EmulatorProcess() as emu:`` starts ``serve(port=0)`` and waits for health.

    ``tls=True``: HTTPS with the emulator's generated CA, which this process (and the child
    processes it starts) then trusts through ``SSL_CERT_FILE``: httpx reads it when it builds
    a client, so every contender trusts the emulator with its default settings, as it would
    trust Cloudflare's certificate.
    """

    def __init__(self, url: str = "", *, tls: bool = False) -> None:
        self.tls = tls
        self._cert_file_before: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._cpus_before: set[int] | None = None
        self.url = url  # given: attach to a running emulator (a child process's view)
        self.account_id = "test-account"
        self.token = "test-token"  # the emulator's fixed test token
        self.model = "@cf/mistralai/mistral-small-3.1-24b-instruct"
        # One keep-alive connection for admin calls, so they never show up as new connections.
        self._admin = httpx.Client(timeout=30)

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> EmulatorProcess:
        if self.url:
            return self
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _START_CODE.format(tls=self.tls)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self._cpus_before = _pin_apart(self._proc.pid)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()  # "Workers AI emulator listening on http://…"
        marker = "listening on "
        if marker not in line:
            self.close()
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.url = line.split(marker, 1)[1].split()[0]
        if self.tls:
            self._trust(self._proc.stdout.readline())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if self.health()["ok"]:
                    return self
            time.sleep(0.05)
        self.close()
        raise RuntimeError("the emulator never answered /__emulator/health")

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _trust(self, line: str) -> None:
        """Trust the CA named on the emulator's second line ("CA certificate: PATH …")."""
        if not line.startswith("CA certificate: "):
            self.close()
            raise RuntimeError(f"the emulator gave no CA certificate: {line!r}")
        path = line.split(": ", 1)[1].split(maxsplit=1)[0]
        self._cert_file_before = os.environ.get("SSL_CERT_FILE", "")
        os.environ["SSL_CERT_FILE"] = path
        self._admin.close()
        self._admin = httpx.Client(timeout=30, verify=ssl.create_default_context(cafile=path))

    def close(self) -> None:
        self._admin.close()
        if self._cert_file_before is not None:
            if self._cert_file_before:
                os.environ["SSL_CERT_FILE"] = self._cert_file_before
            else:
                os.environ.pop("SSL_CERT_FILE", None)
            self._cert_file_before = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
            self._proc = None
        if self._cpus_before is not None:
            os.sched_setaffinity(0, self._cpus_before)
            self._cpus_before = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    # -- addresses -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.url + "/client/v4"

    @property
    def run_url(self) -> str:
        return f"{self.base_url}/accounts/{self.account_id}/ai/run/{self.model}"

    @property
    def openai_base(self) -> str:
        """What OpenAI-style clients take as their base URL (they append /chat/completions)."""
        return f"{self.base_url}/accounts/{self.account_id}/ai/v1"

    # -- admin -----------------------------------------------------------------------------
    def _post(self, name: str, payload: Any = None) -> dict[str, Any]:
        response = self._admin.post(f"{self.url}/__emulator/{name}", json=payload)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def health(self) -> dict[str, Any]:
        response = self._admin.get(f"{self.url}/__emulator/health")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def connections_opened(self) -> int:
        return int(self.health()["connections_opened"])

    def connections(self) -> dict[str, Any]:
        """``GET /__emulator/connections``: opened, open now, peak open, per client."""
        response = self._admin.get(f"{self.url}/__emulator/connections")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def reset(self) -> None:
        """Drop scripts, recorded requests and counters (the config too)."""
        self._post("reset")

    def configure(self, **fields: Any) -> None:
        self._post("config", fields)

    def script(self, **fields: Any) -> None:
        """Queue a ``ScriptedReply`` (its JSON fields; ``repeat=0``: until reset)."""
        self._post("script", fields)

    def script_chunks(self, chunks: list[str], repeat: int = 0) -> None:
        """Serve a reply made of exactly these stream pieces (``repeat=0``: until reset)."""
        self.script(chunks=chunks, repeat=repeat)

    def set_fault_rate(self, rate: float, kinds: Sequence[str], seed: int) -> None:
        """Fail a fraction of requests with faults of these kinds (deterministic per seed)."""
        self._post("faults", {"rate": rate, "kinds": list(kinds), "seed": seed})

    def rss_bytes(self) -> int:
        """The emulator process's resident memory."""
        import psutil

        return int(psutil.Process(self.pid).memory_info().rss)

    def clear_requests(self) -> None:
        self._admin.delete(f"{self.url}/__emulator/requests").raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        response = self._admin.get(f"{self.url}/__emulator/requests")
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()["requests"]
        return found
