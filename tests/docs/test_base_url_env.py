"""``CLOUDFLARE_BASE_URL`` points every client at another API root (a proxy, the emulator)."""

from __future__ import annotations

import pytest

from cf_mistral import ChatRequest, ClientConfig, UserMessage, WorkersAIClient
from cf_mistral.emulator import Emulator


def test_base_url_is_read_from_cloudflare_base_url(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", emulator.base_url)
    with WorkersAIClient(account_id=emulator.account_id, api_token=emulator.token) as client:
        result = client.chat(ChatRequest(messages=[UserMessage("Hello")]))
    assert result.text == "You said: Hello"
    assert emulator.last_request is not None
    assert emulator.last_request.path.endswith(
        f"/accounts/{emulator.account_id}/ai/run/{emulator.model}"
    )


def test_explicit_base_url_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", "http://proxy.invalid/client/v4")
    config = ClientConfig.build(account_id="acct", api_token="tok", base_url="http://a/client/v4")
    assert config.run_url().startswith("http://a/client/v4/accounts/acct/ai/run/")


def test_default_base_url_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_BASE_URL", raising=False)
    config = ClientConfig.build(account_id="acct", api_token="tok")
    assert config.base_url == "https://api.cloudflare.com/client/v4"
