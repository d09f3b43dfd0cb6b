"""The emulator's production options: HTTPS with a generated CA, a connection-setup delay,
new connections counted per client, and stream events stamped with their send time."""

from __future__ import annotations

import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cf_mistral.emulator import Emulator

from .helpers import running

BODY = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def tls_emulator() -> Iterator[Emulator]:
    with Emulator(tls=True) as emu:
        yield emu


def test_tls_serves_https_that_a_client_trusts_through_the_ca(tls_emulator: Emulator) -> None:
    assert tls_emulator.url.startswith("https://127.0.0.1:")
    with httpx.Client(verify=tls_emulator.verify, headers=tls_emulator.headers) as client:
        reply = client.post(tls_emulator.run_url(), json=BODY)
    assert reply.status_code == 200
    assert reply.json()["success"] is True


def test_tls_ca_file_is_a_pem_that_ssl_loads(tls_emulator: Emulator) -> None:
    path = tls_emulator.ca_cert_path
    assert path is not None
    assert path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    context = ssl.create_default_context(cafile=str(path))
    with httpx.Client(verify=context) as client:
        assert client.get(tls_emulator.url + "/__emulator/health").json()["ok"] is True


def test_tls_without_the_ca_is_refused(tls_emulator: Emulator) -> None:
    with (
        httpx.Client(verify=ssl.create_default_context()) as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get(tls_emulator.url + "/__emulator/health")


def test_plain_emulator_has_no_ca() -> None:
    emu = Emulator()
    assert emu.ca_cert_path is None
    assert emu.verify is True
    with pytest.raises(RuntimeError, match=r"Emulator\(tls=True\)"):
        emu.ssl_context()


def test_tls_without_trustme_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "trustme", None)  # as if it were not installed
    with pytest.raises(ImportError, match=re.escape('pip install "cf-mistral[tls]"')):
        Emulator(tls=True)


def test_ca_cert_path_is_where_the_pem_goes(tmp_path: Path) -> None:
    target = tmp_path / "ca.pem"
    emu = Emulator(tls=True, ca_cert_path=target)
    assert emu.ca_cert_path == target
    assert target.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("tls", [False, True])
def test_connect_delay_is_paid_once_per_connection(tls: bool) -> None:
    with Emulator(tls=tls, connect_delay=0.3) as emu:
        with httpx.Client(verify=emu.verify, headers=emu.headers) as client:
            times = []
            for _ in range(3):
                start = time.perf_counter()
                assert client.post(emu.run_url(), json=BODY).status_code == 200
                times.append(time.perf_counter() - start)
        assert times[0] >= 0.3
        assert max(times[1:]) < 0.3  # the same connection, reused: no second setup
        with httpx.Client(verify=emu.verify, headers=emu.headers) as fresh:
            start = time.perf_counter()
            fresh.post(emu.run_url(), json=BODY)
            assert time.perf_counter() - start >= 0.3  # a new connection pays again
        assert emu.connections["opened"] == 2


def test_connections_are_counted_per_client_header_else_peer_ip() -> None:
    with Emulator() as emu:
        for name in ("alpha", "alpha", "beta"):
            # A new client each time: a new connection each time.
            with httpx.Client(headers={**emu.headers, "X-Emulator-Client": name}) as client:
                client.post(emu.run_url(), json=BODY)
                client.post(emu.run_url(), json=BODY)  # kept alive: not a new connection
        with httpx.Client(headers=emu.headers) as anonymous:
            anonymous.post(emu.run_url(), json=BODY)
        counts = emu.connections
        assert counts["by_client"] == {"alpha": 2, "beta": 1, "127.0.0.1": 1}
        assert counts["opened"] == 4
        assert counts["peak_open"] == 1
        deadline = time.monotonic() + 5  # the server sees each close a moment later
        while emu.connections["open"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert emu.connections["open"] == 0
        served = httpx.get(emu.url + "/__emulator/connections").json()
        assert served["by_client"]["alpha"] == 2
        assert served["opened"] == 5  # this request's own connection included
        assert httpx.delete(emu.url + "/__emulator/connections").json()["opened"] == 0
        emu.reset()
        assert emu.connections["by_client"] == {}


def test_admin_reset_zeroes_the_connection_counts() -> None:
    with Emulator() as emu, httpx.Client() as client:
        client.get(emu.url + "/__emulator/health")
        assert client.post(emu.url + "/__emulator/reset").status_code == 200
        counts = client.get(emu.url + "/__emulator/connections").json()
        assert counts["opened"] == 0
        assert counts["open"] == 1  # the admin client's own, still open


def test_connection_counts_outlive_stop() -> None:
    emu = Emulator().start()
    httpx.get(emu.url + "/__emulator/health")
    emu.stop()
    assert emu.connections["opened"] == 1


@pytest.mark.parametrize("interval", [0.0, 0.01])
def test_stream_events_carry_their_send_time(interval: float) -> None:
    with Emulator(tls=True, stream_interval=interval) as emu:
        emu.script(chunks=["{send_time}", " and text"])
        before = time.monotonic()
        with httpx.Client(verify=emu.verify, headers=emu.headers) as client:
            body = client.post(emu.run_url(), json={**BODY, "stream": True}).text
        after = time.monotonic()
    stamp = float(re.search(r'"response":"([0-9.]+)"', body).group(1))  # type: ignore[union-attr]
    assert before <= stamp <= after
    assert '"response":" and text"' in body


def test_cli_serves_https_and_prints_the_ca_path(tmp_path: Path) -> None:
    ca = tmp_path / "emulator-ca.pem"
    command = [sys.executable, "-m", "cf_mistral", "emulator", "--port", "0", "--tls"]
    command += ["--ca-cert", str(ca), "--connect-delay", "0.01", "--latency", "0.01"]
    with running(command) as proc:
        assert proc.stdout is not None
        url = re.search(r"listening on (https://\S+)", proc.stdout.readline())
        assert url, "no banner"
        assert proc.stdout.readline().startswith(f"CA certificate: {ca} ")
        context = ssl.create_default_context(cafile=str(ca))
        assert httpx.get(url.group(1) + "/__emulator/health", verify=context).json()["ok"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0


def test_cli_refuses_a_ca_path_without_tls() -> None:
    command = [sys.executable, "-m", "cf_mistral", "emulator", "--ca-cert", "x.pem"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "--ca-cert needs --tls" in done.stderr
