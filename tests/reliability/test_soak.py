"""The soak's short form: benchmarks/soak.py with 300 requests, its bounds asserted.

``make soak`` runs the long form (5,000 requests) and prints the same figures.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cf_mistral_soak", ROOT / "benchmarks/soak.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


async def test_short_soak_under_random_faults_accounts_for_every_request() -> None:
    soak = load_soak()
    report = await soak.soak(requests=300, concurrency=64, fault_rate=0.1, seed=6)
    soak.print_report(report, {})
    assert sum(report.outcomes.values()) == 300
    assert set(report.by_path.values()) == {25}, "all twelve paths soaked evenly"
    assert report.untyped_errors == []
    assert report.unhandled == []
    assert report.hangs == 0
    assert report.lost_text == 0, "a partial stream's error must carry the text received"
    assert report.wrong_text == 0
    assert report.faults_injected >= 10
    assert report.retries >= 5, "retryable faults were retried"
    assert report.outcomes["ok"] >= 250
    assert report.leaked_sockets == 0
    assert report.leaked_fds == 0
    assert report.rss_growth_mb < 50
    assert report.ok
