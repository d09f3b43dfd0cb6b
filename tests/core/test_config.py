"""Configuration: credentials from the environment, ranges, AI Gateway, timeouts."""

from __future__ import annotations

import math
from typing import Any

import pytest

from cf_mistral import (
    DEFAULT_MODEL,
    AIGateway,
    ChatRequest,
    ClientConfig,
    GatewayError,
    InvalidParameterError,
    InvalidRequestError,
    Timeouts,
    UserMessage,
    check_sampling_params,
)
from cf_mistral._config import ACCOUNT_ID_ENV_VARS, API_TOKEN_ENV_VARS
from cf_mistral._request import prepare_call
from cf_mistral.emulator import Emulator

from .helpers import Driver, DriverFactory

ALL_ENV_VARS = (*ACCOUNT_ID_ENV_VARS, *API_TOKEN_ENV_VARS, "CLOUDFLARE_BASE_URL")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ALL_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_environment_variable_names_are_the_documented_ones() -> None:
    assert ACCOUNT_ID_ENV_VARS == ("CLOUDFLARE_ACCOUNT_ID", "CF_ACCOUNT_ID")
    assert API_TOKEN_ENV_VARS == (
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_AUTH_TOKEN",
        "CF_AI_API_TOKEN",
        "CF_API_TOKEN",
    )


@pytest.mark.parametrize("name", ACCOUNT_ID_ENV_VARS)
def test_account_id_is_read_from_each_environment_variable(
    clean_env: pytest.MonkeyPatch, name: str
) -> None:
    clean_env.setenv(name, f"acct-from-{name}")
    assert ClientConfig.build().account_id == f"acct-from-{name}"


@pytest.mark.parametrize("name", API_TOKEN_ENV_VARS)
def test_api_token_is_read_from_each_environment_variable(
    clean_env: pytest.MonkeyPatch, name: str
) -> None:
    clean_env.setenv(name, f"token-from-{name}")
    token = ClientConfig.build().api_token
    assert token is not None
    assert token.get_secret_value() == f"token-from-{name}"


@pytest.mark.parametrize("position", range(len(API_TOKEN_ENV_VARS)))
def test_earlier_token_variables_take_precedence(
    clean_env: pytest.MonkeyPatch, position: int
) -> None:
    for name in API_TOKEN_ENV_VARS[position:]:
        clean_env.setenv(name, f"token-from-{name}")
    token = ClientConfig.build().api_token
    assert token is not None
    assert token.get_secret_value() == f"token-from-{API_TOKEN_ENV_VARS[position]}"


def test_cloudflare_account_id_wins_over_cf_account_id(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CF_ACCOUNT_ID", "short")
    clean_env.setenv("CLOUDFLARE_ACCOUNT_ID", "long")
    assert ClientConfig.build().account_id == "long"


def test_explicit_arguments_win_over_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CLOUDFLARE_ACCOUNT_ID", "env-acct")
    clean_env.setenv("CLOUDFLARE_API_TOKEN", "env-token")
    config = ClientConfig.build(account_id="arg-acct", api_token="arg-token")
    assert config.account_id == "arg-acct"
    assert config.api_token is not None
    assert config.api_token.get_secret_value() == "arg-token"


def test_empty_environment_variable_falls_through_to_the_next(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("CLOUDFLARE_API_TOKEN", "")
    clean_env.setenv("CF_API_TOKEN", "fallback")
    token = ClientConfig.build().api_token
    assert token is not None
    assert token.get_secret_value() == "fallback"


def test_missing_credentials_name_both_variables(clean_env: pytest.MonkeyPatch) -> None:
    config = ClientConfig.build()
    with pytest.raises(InvalidRequestError) as info:
        config.run_url()
    assert "CLOUDFLARE_ACCOUNT_ID" in str(info.value)
    assert "CLOUDFLARE_API_TOKEN" in str(info.value)


def test_defaults_are_the_documented_model_and_base_url(clean_env: pytest.MonkeyPatch) -> None:
    config = ClientConfig.build(account_id="acct", api_token="S3NT1NEL-tok")
    assert config.model == DEFAULT_MODEL == "@cf/mistralai/mistral-small-3.1-24b-instruct"
    assert config.run_url() == (
        "https://api.cloudflare.com/client/v4/accounts/acct/ai/run/"
        "@cf/mistralai/mistral-small-3.1-24b-instruct"
    )
    assert config.headers()["Authorization"] == "Bearer S3NT1NEL-tok"
    assert "S3NT1NEL" not in repr(config)
    assert "S3NT1NEL" not in str(config.model_dump())


def test_timeouts_are_finite_by_default() -> None:
    timeouts = ClientConfig.build(account_id="a", api_token="t").timeouts
    for name in ("connect", "read", "write", "pool", "stream_idle"):
        value = getattr(timeouts, name)
        assert 0 < value < math.inf, name


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, Timeouts()),
        (3, Timeouts(connect=3, read=3, write=3, pool=3, stream_idle=3)),
        ({"connect": 1.5}, Timeouts(connect=1.5)),
        (Timeouts(read=7), Timeouts(read=7)),
    ],
)
def test_timeout_forms_are_coerced(given: Any, expected: Timeouts) -> None:
    assert Timeouts.coerce(given) == expected


@pytest.mark.parametrize("bad", ["ten", True, [1, 2]])
def test_unknown_timeout_forms_are_refused_with_the_accepted_forms(bad: Any) -> None:
    with pytest.raises(InvalidRequestError, match="connect/read/write/pool/stream_idle"):
        Timeouts.coerce(bad)


@pytest.mark.parametrize("bad", [0, -1, math.inf * 0])
def test_non_positive_timeouts_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        Timeouts(connect=bad)


OUT_OF_RANGE = [
    ("temperature", -0.1, "0 to 5"),
    ("temperature", 5.01, "0 to 5"),
    ("top_p", -0.5, "0 to 2"),
    ("top_p", 2.5, "0 to 2"),
    ("top_k", 0, "1 to 50"),
    ("top_k", 51, "1 to 50"),
    ("seed", 0, "1 to 9999999999"),
    ("seed", 10_000_000_000, "1 to 9999999999"),
    ("repetition_penalty", -1, "0 to 2"),
    ("repetition_penalty", 2.1, "0 to 2"),
    ("frequency_penalty", -0.01, "0 to 2"),
    ("frequency_penalty", 3, "0 to 2"),
    ("presence_penalty", -2, "0 to 2"),
    ("presence_penalty", 2.0001, "0 to 2"),
    ("max_tokens", 0, "at least 1"),
    ("max_tokens", -5, "at least 1"),
    ("temperature", math.nan, "0 to 5"),
]


@pytest.mark.parametrize(("name", "value", "span"), OUT_OF_RANGE)
def test_out_of_range_parameter_names_parameter_and_range(
    name: str, value: float, span: str
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        check_sampling_params({name: value})
    assert name in str(info.value)
    assert span in str(info.value)
    # The same check guards every request, before anything is sent.
    with pytest.raises(InvalidParameterError, match=name):
        prepare_call(ChatRequest(messages=[UserMessage("hi")], params={name: value}), stream=False)


@pytest.mark.parametrize(
    ("name", "value", "wanted"),
    [
        ("top_k", 2.5, "integer"),
        ("seed", 1.5, "integer"),
        ("temperature", "hot", "number"),
        ("max_tokens", True, "integer"),
    ],
)
def test_wrong_parameter_type_names_parameter_and_type(name: str, value: Any, wanted: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"{name}=.*{wanted}"):
        check_sampling_params({name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("temperature", 0),
        ("temperature", 5),
        ("top_p", 0),
        ("top_p", 2),
        ("top_k", 1),
        ("top_k", 50),
        ("seed", 1),
        ("seed", 9_999_999_999),
        ("repetition_penalty", 2),
        ("frequency_penalty", 0),
        ("presence_penalty", 2),
        ("max_tokens", 1),
        ("max_tokens", 128_000),
    ],
)
def test_range_boundaries_are_accepted(name: str, value: float) -> None:
    assert check_sampling_params({name: value}) == {name: value}


def test_none_parameters_are_dropped_not_sent() -> None:
    assert check_sampling_params({"temperature": None, "top_k": 3}) == {"top_k": 3}


def test_integral_float_for_integer_parameter_is_sent_as_int() -> None:
    checked = check_sampling_params({"top_k": 5.0})
    assert checked == {"top_k": 5}
    assert type(checked["top_k"]) is int


def test_max_retries_is_bounded() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        ClientConfig.build(account_id="a", api_token="t", max_retries=-1)


# -- AI Gateway --------------------------------------------------------------------------


def test_gateway_url_form() -> None:
    config = ClientConfig.build(account_id="acct", api_token="tok", gateway="my-gw")
    assert config.run_url() == (
        "https://gateway.ai.cloudflare.com/v1/acct/my-gw/workers-ai/"
        "@cf/mistralai/mistral-small-3.1-24b-instruct"
    )
    assert "cf-aig-gateway-id" not in config.headers()


def test_gateway_header_form_keeps_the_workers_ai_url() -> None:
    config = ClientConfig.build(
        account_id="acct", api_token="tok", gateway=AIGateway(gateway_id="gw", mode="header")
    )
    assert config.run_url().startswith("https://api.cloudflare.com/client/v4/accounts/acct/ai/run/")
    assert config.headers()["cf-aig-gateway-id"] == "gw"


def test_gateway_headers_for_token_cache_and_metadata() -> None:
    gateway = AIGateway(
        gateway_id="gw",
        token="gw-secret",
        cache_ttl=3600,
        skip_cache=True,
        cache_key="k1",
        metadata={"user": "u1", "n": 3, "beta": False},
        collect_log=False,
        event_id="ev",
        request_timeout_ms=5000,
        max_attempts=3,
        retry_delay_ms=100,
        backoff="exponential",
    )
    assert gateway.headers() == {
        "cf-aig-authorization": "Bearer gw-secret",
        "cf-aig-cache-ttl": "3600",
        "cf-aig-skip-cache": "true",
        "cf-aig-cache-key": "k1",
        "cf-aig-metadata": '{"user":"u1","n":3,"beta":false}',
        "cf-aig-collect-log": "false",
        "cf-aig-event-id": "ev",
        "cf-aig-request-timeout": "5000",
        "cf-aig-max-attempts": "3",
        "cf-aig-retry-delay": "100",
        "cf-aig-backoff": "exponential",
    }
    assert "gw-secret" not in repr(gateway)


def test_gateway_without_options_sends_no_gateway_headers() -> None:
    assert AIGateway(gateway_id="gw").headers() == {}
    assert AIGateway(gateway_id="gw", token="").token is None


@pytest.mark.parametrize(
    "options",
    [{"cache_ttl": 59}, {"cache_ttl": 2_592_001}, {"max_attempts": 6}, {"gateway_id": ""}],
)
def test_gateway_values_outside_cloudflare_limits_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        AIGateway(**{"gateway_id": "gw", **options})


def test_user_headers_win_over_computed_ones() -> None:
    config = ClientConfig.build(
        account_id="a", api_token="t", default_headers={"User-Agent": "mine", "x-extra": "1"}
    )
    headers = config.headers()
    assert headers["User-Agent"] == "mine"
    assert headers["x-extra"] == "1"


async def test_gateway_url_form_reaches_the_gateway_route(
    emulator: Emulator, drive: DriverFactory
) -> None:
    gateway = AIGateway(
        gateway_id="gw1", base_url=emulator.gateway_url, token="gw-token", cache_ttl=120
    )
    emulator.configure(gateway_token="gw-token", gateways=("gw1",))
    result = await drive(gateway=gateway).chat(ChatRequest(messages=[UserMessage("hi")]))
    assert result.text == "You said: hi"
    recorded = emulator.last_request
    assert recorded is not None
    assert recorded.route == "gateway"
    assert recorded.gateway == "gw1"
    assert recorded.headers["cf-aig-authorization"] == "Bearer gw-token"
    assert recorded.headers["cf-aig-cache-ttl"] == "120"
    assert recorded.headers["authorization"] == f"Bearer {emulator.token}"
    # AI Gateway's log id is the request id to quote to Cloudflare.
    assert result.request_id


async def test_gateway_header_form_reaches_the_native_route(
    emulator: Emulator, drive: DriverFactory
) -> None:
    gateway = AIGateway(gateway_id="gw2", mode="header", metadata={"team": "a"})
    await drive(gateway=gateway).chat(ChatRequest(messages=[UserMessage("hi")]))
    recorded = emulator.last_request
    assert recorded is not None
    assert recorded.route == "native"
    assert recorded.gateway == "gw2"
    assert recorded.headers["cf-aig-metadata"] == '{"team":"a"}'


@pytest.mark.parametrize(
    ("gateway_options", "code"),
    [({"gateway_id": "nope"}, 2001), ({"gateway_id": "gw1", "token": "wrong"}, 2009)],
)
async def test_gateway_errors_become_gateway_error(
    emulator: Emulator, drive: DriverFactory, gateway_options: dict[str, Any], code: int
) -> None:
    emulator.configure(gateway_token="gw-token", gateways=("gw1",))
    gateway = AIGateway(base_url=emulator.gateway_url, **gateway_options)
    with pytest.raises(GatewayError) as info:
        await drive(gateway=gateway).chat(ChatRequest(messages=[UserMessage("hi")]))
    assert info.value.code == code
    assert info.value.request_id


async def test_default_headers_reach_the_wire(emulator: Emulator, drive: DriverFactory) -> None:
    client = drive(default_headers={"x-session-affinity": "s-1"})
    await client.chat(ChatRequest(messages=[UserMessage("hi")]))
    recorded = emulator.last_request
    assert recorded is not None
    assert recorded.headers["x-session-affinity"] == "s-1"
    assert recorded.headers["user-agent"].startswith("cf-mistral/")


async def test_model_override_per_call_reaches_the_url(emulator: Emulator, driver: Driver) -> None:
    emulator.configure(models=(DEFAULT_MODEL, "@cf/other/model"))
    result = await driver.chat(ChatRequest(messages=[UserMessage("hi")]), model="@cf/other/model")
    assert result.model == "@cf/other/model"
    assert emulator.last_request is not None
    assert emulator.last_request.model == "@cf/other/model"


def test_secret_str_token_is_kept_and_an_empty_one_falls_back(
    clean_env: pytest.MonkeyPatch,
) -> None:
    from pydantic import SecretStr

    config = ClientConfig.build(account_id="a", api_token=SecretStr("s"))
    assert config.api_token is not None
    assert config.api_token.get_secret_value() == "s"
    assert ClientConfig.build(account_id="a", api_token=SecretStr("")).api_token is None


def test_parameters_without_a_range_pass_the_range_check() -> None:
    assert check_sampling_params({"raw": True}) == {"raw": True}


@pytest.mark.parametrize(
    "entry", ["https://images.internal", "images.internal:8443", "user@host", "[fd00::1]", ""]
)
def test_a_private_image_host_that_is_not_a_bare_host_name_is_refused(entry: str) -> None:
    # It is compared with the URL's host alone: anything else could never match.
    with pytest.raises(InvalidRequestError, match="not a host name"):
        ClientConfig.build(private_image_hosts=[entry])


def test_bare_host_names_and_addresses_are_accepted_as_private_image_hosts() -> None:
    hosts = ["images.internal", "10.0.0.5", "fd00::1", "localhost"]
    assert ClientConfig.build(private_image_hosts=hosts).private_image_hosts == tuple(hosts)
