"""The emulator's command line: ``cf-mistral emulator`` and ``serve()`` in the foreground."""

from __future__ import annotations

import re
import signal
import sys

import httpx

from .helpers import MODEL, chat, running


def test_serve_prints_banner_and_stops_on_ctrl_c() -> None:
    code = "from cf_mistral.emulator import serve; serve(port=0)"
    with running([sys.executable, "-c", code]) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.fullmatch(
            r"Workers AI emulator listening on (http://127\.0\.0\.1:\d+) "
            r"\(account test-account, token test-token\)\n",
            line,
        )
        assert m, line
        assert httpx.get(m.group(1) + "/__emulator/health").json()["ok"] is True
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0


def test_the_cli_keeps_only_the_latest_requests_it_is_told_to() -> None:
    command = ["-m", "cf_mistral", "emulator", "--port", "0", "--max-recorded-requests", "2"]
    with running([sys.executable, *command]) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"listening on (http://\S+)", line)
        assert found, line
        url = found.group(1)
        run = f"{url}/client/v4/accounts/a/ai/run/{MODEL}"
        for index in range(3):
            httpx.post(
                run, json=chat(f"request {index}"), headers={"Authorization": "Bearer test-token"}
            )
        recorded = httpx.get(url + "/__emulator/requests").json()["requests"]
        sent = [r["body"]["messages"][0]["content"] for r in recorded]
        assert sent == ["request 1", "request 2"]
        health = httpx.get(url + "/__emulator/health").json()
        assert health["requests_received"] == 3
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
