"""Client configuration: credentials, endpoint, AI Gateway, timeouts, retries.

Everything here is plain data and pure functions (URL and header building); the clients in
:mod:`cf_mistral._client` only do I/O with what these produce.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from cf_mistral._errors import InvalidRequestError
from cf_mistral._pricing import ModelPrice, price_for
from cf_mistral._schema import DEFAULT_MODEL
from cf_mistral._version import __version__

__all__ = [
    "ACCOUNT_ID_ENV_VARS",
    "API_TOKEN_ENV_VARS",
    "BASE_URL_ENV_VAR",
    "DEFAULT_BASE_URL",
    "DEFAULT_GATEWAY_BASE_URL",
    "SESSION_AFFINITY_HEADER",
    "AIGateway",
    "ClientConfig",
    "Timeouts",
    "check_session_affinity",
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


SESSION_AFFINITY_HEADER = "x-session-affinity"


def check_session_affinity(value: object) -> str | None:
    """A session-affinity key as it may go in a header, or an error that says how to fix it.

    ``None`` means no key. The key is any printable ASCII text (a conversation or thread id):
    HTTP header values cannot carry other characters, and a line break would end the header.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequestError(
            f"session_affinity={value!r} is not a string ({type(value).__name__}): it is sent "
            "as the x-session-affinity header. Pass text, e.g. str(thread_id)."
        )
    if not value.strip() or value != value.strip() or not all(" " <= c <= "~" for c in value):
        raise InvalidRequestError(
            f"session_affinity={value!r} cannot be sent as the x-session-affinity header: "
            "it must be non-empty printable ASCII without spaces around it. Pass an id, or a "
            "hash of your key "
            "(hashlib.sha256(key.encode()).hexdigest())."
        )
    return value


def _host_names(value: Sequence[str] | None) -> tuple[str, ...]:
    # A bare string is a sequence too: "images.internal" would allow "i", "m", ...
    if isinstance(value, str):
        raise InvalidRequestError(
            f"private_image_hosts={value!r} is one string: pass a list of host names, "
            f"e.g. private_image_hosts=[{value!r}]."
        )
    names = tuple(value or ())
    for name in names:
        # Compared with the URL's host alone (IPv6 without brackets): a scheme, path, user or
        # port would never match, and the download would be refused for no visible reason.
        if (
            not isinstance(name, str)
            or not name
            or any(char in name for char in "/@[] ")
            or name.count(":") == 1
        ):
            raise InvalidRequestError(
                f"private_image_hosts entry {name!r} is not a host name: pass the host alone, "
                "as in 'images.internal', '10.0.0.5' or 'fd00::1', without scheme, path, port "
                "or brackets."
            )
    return names


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

    ``session_affinity`` is sent as the ``x-session-affinity`` header on every call (a
    :class:`ChatRequest` may carry its own): Workers AI routes calls with the same key to the
    same replica, so a conversation's repeated prefix can be served from its prompt cache.
    ``pricing`` overrides or extends the price table (:data:`cf_mistral.DEFAULT_PRICING`).
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
    session_affinity: str | None = None
    pricing: dict[str, ModelPrice] = Field(default_factory=dict)

    @field_validator("session_affinity")
    @classmethod
    def _header_safe_affinity(cls, value: str | None) -> str | None:
        return check_session_affinity(value)

    private_image_hosts: tuple[str, ...] = ()

    @field_validator("private_image_hosts", mode="before")
    @classmethod
    def _host_names_not_one_string(cls, value: Any) -> Any:
        return _host_names(value)

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
        session_affinity: str | None = None,
        pricing: Mapping[str, ModelPrice | Mapping[str, Any]] | None = None,
        private_image_hosts: Sequence[str] | None = None,
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
            session_affinity=check_session_affinity(session_affinity),
            pricing=dict(pricing or {}),
            private_image_hosts=_host_names(private_image_hosts),
            max_connections=100 if max_connections is None else max_connections,
        )

    @classmethod
    def from_fields(cls, source: object) -> ClientConfig:
        """:meth:`build` from an object that holds the same settings as attributes.

        The LangChain and LlamaIndex classes declare these settings as fields of the same names
        (every one of them: a setting an adapter forgot fails here, in its tests).
        """
        return cls.build(**{name: getattr(source, name) for name in _BUILD_ARGUMENTS})

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
        if self.session_affinity is not None:
            headers[SESSION_AFFINITY_HEADER] = self.session_affinity
        for name, value in self.default_headers.items():
            # Header names are case-insensitive: a user's X-Session-Affinity replaces ours
            # rather than travelling beside it.
            for ours in [key for key in headers if key.lower() == name.lower()]:
                del headers[ours]
            headers[name] = value
        return headers

    def price_for(self, model: str | None = None) -> ModelPrice | None:
        """The price of ``model`` (default: this client's): ``pricing``, else the defaults."""
        return price_for(model or self.model, self.pricing)


# The settings build() takes, read from its signature so the two never drift apart.
_BUILD_ARGUMENTS = tuple(inspect.signature(ClientConfig.build).parameters)
