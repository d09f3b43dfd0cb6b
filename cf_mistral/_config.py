"""Client configuration: credentials, endpoint, AI Gateway, timeouts, retries.

Everything here is plain data and pure functions (URL and header building); the clients in
:mod:`cf_mistral._client` only do I/O with what these produce.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from cf_mistral._errors import InvalidRequestError
from cf_mistral._schema import DEFAULT_MODEL
from cf_mistral._version import __version__

__all__ = [
    "ACCOUNT_ID_ENV_VARS",
    "API_TOKEN_ENV_VARS",
    "BASE_URL_ENV_VAR",
    "DEFAULT_BASE_URL",
    "DEFAULT_GATEWAY_BASE_URL",
    "AIGateway",
    "ClientConfig",
    "Timeouts",
    "resolve_account_id",
    "resolve_api_token",
]

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
DEFAULT_GATEWAY_BASE_URL = "https://gateway.ai.cloudflare.com/v1"
ACCOUNT_ID_ENV_VARS = ("CLOUDFLARE_ACCOUNT_ID", "CF_ACCOUNT_ID")
API_TOKEN_ENV_VARS = (
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_AUTH_TOKEN",
    "CF_AI_API_TOKEN",
    "CF_API_TOKEN",
)
# The name cloudflare-python reads, with the same meaning (the API root, ending in /client/v4);
# it lets the same code run against a proxy or the bundled emulator without a code change.
BASE_URL_ENV_VAR = "CLOUDFLARE_BASE_URL"
USER_AGENT = f"cf-mistral/{__version__}"


def _first_env(names: tuple[str, ...]) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def resolve_account_id(account_id: str | None) -> str | None:
    """The given account id, else the first of ``CLOUDFLARE_ACCOUNT_ID``, ``CF_ACCOUNT_ID``."""
    return account_id or _first_env(ACCOUNT_ID_ENV_VARS)


def resolve_api_token(api_token: str | SecretStr | None) -> SecretStr | None:
    """The given token, else the first set of ``CLOUDFLARE_API_TOKEN`` and its aliases."""
    if isinstance(api_token, SecretStr):
        return api_token if api_token.get_secret_value() else None
    value = api_token or _first_env(API_TOKEN_ENV_VARS)
    return SecretStr(value) if value else None


class Timeouts(BaseModel):
    """Finite timeouts in seconds. ``stream_idle`` bounds the wait between two stream events.

    ``read`` bounds the wait for a non-streaming reply's bytes (a long generation can take
    minutes) and for a stream's first event.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    connect: float = Field(default=10.0, gt=0)
    read: float = Field(default=300.0, gt=0)
    write: float = Field(default=60.0, gt=0)
    pool: float = Field(default=60.0, gt=0)
    stream_idle: float = Field(default=60.0, gt=0)

    @classmethod
    def coerce(cls, value: Timeouts | float | Mapping[str, float] | None) -> Timeouts:
        """Accept a :class:`Timeouts`, one number (applied to every phase), or a mapping."""
        if value is None:
            return cls()
        if isinstance(value, Timeouts):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value)
            return cls(
                connect=seconds, read=seconds, write=seconds, pool=seconds, stream_idle=seconds
            )
        if isinstance(value, Mapping):
            return cls(**value)
        raise InvalidRequestError(
            f"timeout={value!r} is not understood: pass seconds as a number, a mapping "
            "with connect/read/write/pool/stream_idle, or a cf_mistral.Timeouts."
        )


class AIGateway(BaseModel):
    """Route calls through Cloudflare AI Gateway.

    ``mode="url"`` (default) posts to
    ``{base_url}/{account}/{gateway_id}/workers-ai/{model}``; ``mode="header"`` keeps the
    Workers AI URL and adds ``cf-aig-gateway-id``. ``token`` authenticates to an
    Authenticated Gateway (``cf-aig-authorization``). The other fields become the gateway's
    per-request headers (caching, metadata, logging, gateway-side retries).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    gateway_id: str = Field(min_length=1)
    mode: Literal["url", "header"] = "url"
    token: SecretStr | None = None
    base_url: str = DEFAULT_GATEWAY_BASE_URL
    cache_ttl: int | None = Field(default=None, ge=60, le=2_592_000)
    skip_cache: bool | None = None
    cache_key: str | None = None
    metadata: dict[str, str | int | float | bool] | None = None
    collect_log: bool | None = None
    event_id: str | None = None
    request_timeout_ms: int | None = Field(default=None, gt=0)
    max_attempts: int | None = Field(default=None, ge=1, le=5)
    retry_delay_ms: int | None = Field(default=None, ge=0, le=5000)
    backoff: Literal["constant", "linear", "exponential"] | None = None

    @field_validator("token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: Any) -> Any:
        return value or None

    def headers(self) -> dict[str, str]:
        """The ``cf-aig-*`` request headers this configuration asks for."""
        headers: dict[str, str] = {}
        if self.mode == "header":
            headers["cf-aig-gateway-id"] = self.gateway_id
        if self.token is not None:
            headers["cf-aig-authorization"] = f"Bearer {self.token.get_secret_value()}"
        optional: dict[str, Any] = {
            "cf-aig-cache-ttl": self.cache_ttl,
            "cf-aig-skip-cache": self.skip_cache,
            "cf-aig-cache-key": self.cache_key,
            "cf-aig-collect-log": self.collect_log,
            "cf-aig-event-id": self.event_id,
            "cf-aig-request-timeout": self.request_timeout_ms,
            "cf-aig-max-attempts": self.max_attempts,
            "cf-aig-retry-delay": self.retry_delay_ms,
            "cf-aig-backoff": self.backoff,
        }
        for name, value in optional.items():
            if value is None:
                continue
            headers[name] = str(value).lower() if isinstance(value, bool) else str(value)
        if self.metadata is not None:
            headers["cf-aig-metadata"] = json.dumps(self.metadata, separators=(",", ":"))
        return headers


class ClientConfig(BaseModel):
    """Everything a client needs to reach the model. Secrets are ``SecretStr`` throughout.

    Missing ``account_id`` / ``api_token`` are read from the environment
    (``CLOUDFLARE_ACCOUNT_ID`` / ``CF_ACCOUNT_ID``; ``CLOUDFLARE_API_TOKEN``,
    ``CLOUDFLARE_AUTH_TOKEN``, ``CF_AI_API_TOKEN``, ``CF_API_TOKEN``), a missing ``base_url``
    from ``CLOUDFLARE_BASE_URL``, else ``https://api.cloudflare.com/client/v4``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    account_id: str | None = None
    api_token: SecretStr | None = None
    model: str = DEFAULT_MODEL
    base_url: str = DEFAULT_BASE_URL
    gateway: AIGateway | None = None
    timeouts: Timeouts = Field(default_factory=Timeouts)
    max_retries: int = Field(default=2, ge=0, le=20)
    default_headers: dict[str, str] = Field(default_factory=dict)
    inline_remote_images: bool = False
    #: Connections the client's own pool opens at most, and keeps alive between calls.
    max_connections: int = Field(default=100, ge=1)

    @classmethod
    def build(
        cls,
        *,
        account_id: str | None = None,
        api_token: str | SecretStr | None = None,
        model: str | None = None,
        base_url: str | None = None,
        gateway: AIGateway | str | None = None,
        timeout: Timeouts | float | Mapping[str, float] | None = None,
        max_retries: int | None = None,
        default_headers: Mapping[str, str] | None = None,
        inline_remote_images: bool = False,
        max_connections: int | None = None,
    ) -> ClientConfig:
        """Resolve the environment and coerce convenient forms (a gateway id, a number)."""
        return cls(
            account_id=resolve_account_id(account_id),
            api_token=resolve_api_token(api_token),
            model=model or DEFAULT_MODEL,
            base_url=base_url or os.environ.get(BASE_URL_ENV_VAR) or DEFAULT_BASE_URL,
            gateway=AIGateway(gateway_id=gateway) if isinstance(gateway, str) else gateway,
            timeouts=Timeouts.coerce(timeout),
            max_retries=2 if max_retries is None else max_retries,
            default_headers=dict(default_headers or {}),
            inline_remote_images=inline_remote_images,
            max_connections=100 if max_connections is None else max_connections,
        )

    @classmethod
    def from_fields(cls, source: object) -> ClientConfig:
        """:meth:`build` from an object that holds the same settings as attributes.

        The LangChain and LlamaIndex classes declare these settings as fields of the same names;
        a setting the source does not declare keeps its default.
        """
        return cls.build(
            **{name: getattr(source, name) for name in _BUILD_ARGUMENTS if hasattr(source, name)}
        )

    def require_credentials(self) -> tuple[str, SecretStr]:
        """The account id and token, or an error that says where to set them."""
        missing = []
        if not self.account_id:
            missing.append("account_id (or CLOUDFLARE_ACCOUNT_ID)")
        if self.api_token is None:
            missing.append("api_token (or CLOUDFLARE_API_TOKEN)")
        if missing:
            raise InvalidRequestError(
                f"Missing {' and '.join(missing)}: pass it to the constructor or set the "
                "environment variable. Create a token with 'Workers AI' permissions in the "
                "Cloudflare dashboard."
            )
        assert self.account_id is not None
        assert self.api_token is not None
        return self.account_id, self.api_token

    def run_url(self, model: str | None = None) -> str:
        """The native ``/ai/run/{model}`` URL, direct or through AI Gateway's URL form."""
        account_id, _ = self.require_credentials()
        model = model or self.model
        if self.gateway is not None and self.gateway.mode == "url":
            base = self.gateway.base_url.rstrip("/")
            return f"{base}/{account_id}/{self.gateway.gateway_id}/workers-ai/{model}"
        return f"{self.base_url.rstrip('/')}/accounts/{account_id}/ai/run/{model}"

    def headers(self) -> dict[str, str]:
        """Request headers: auth, JSON, gateway and user headers (user headers win)."""
        _, token = self.require_credentials()
        headers = {
            "Authorization": f"Bearer {token.get_secret_value()}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        if self.gateway is not None:
            headers.update(self.gateway.headers())
        headers.update(self.default_headers)
        return headers


# The settings build() takes, read from its signature so the two never drift apart.
_BUILD_ARGUMENTS = tuple(inspect.signature(ClientConfig.build).parameters)
