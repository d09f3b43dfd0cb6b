"""``serve()``: the foreground runner used by ``cf-mistral emulator``."""

from __future__ import annotations

import re
import signal
import sys

import httpx

from .helpers import running


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
