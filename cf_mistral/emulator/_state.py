"""Mutable emulator state shared between the API thread and the server thread."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

from ._faults import Fault, FaultKind
from ._prompt_cache import PromptCache
from ._types import EmulatorConfig, RecordedRequest, ScriptedReply

__all__ = ["DEFAULT_RATE_KINDS", "State"]

DEFAULT_RATE_KINDS = (FaultKind.capacity, FaultKind.server_error, FaultKind.timeout)


class State:
    """Thread-safe queues of scripted replies and faults, the latest requests, counters.

    Only the last ``config.max_recorded_requests`` requests are kept; ``requests_received``
    counts every request since the last clear, ``faults_injected`` every fault drawn from the
    queue or the rate.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self._lock = threading.Lock()
        self.initial_config = config
        self.config = config
        self._scripts: deque[list[Any]] = deque()  # [ScriptedReply, remaining]
        self._faults: deque[Fault] = deque()
        self._rate = 0.0
        self._rate_kinds: tuple[FaultKind, ...] = DEFAULT_RATE_KINDS
        self._rng = random.Random(0)
        self._requests = self._new_record(config)
        self.connections_opened = 0
        self.prompt_cache = PromptCache()  # bounded on its own, apart from the request log
        self.requests_received = 0
        self.faults_injected = 0

    # -- configuration ---------------------------------------------------------------
    def configure(self, **changes: Any) -> EmulatorConfig:
        names = {f.name for f in dataclasses.fields(EmulatorConfig)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown EmulatorConfig fields: {sorted(unknown)}")
        with self._lock:
            previous = self.config
            self.config = dataclasses.replace(previous, **changes)
            if self.config.max_recorded_requests != previous.max_recorded_requests:
                self._requests = self._new_record(self.config, self._requests)
            return previous

    # -- scripts and faults ----------------------------------------------------------
    def add_script(self, reply: ScriptedReply) -> None:
        with self._lock:
            self._scripts.append([reply, reply.repeat])

    def next_script(self) -> ScriptedReply | None:
        with self._lock:
            if not self._scripts:
                return None
            entry = self._scripts[0]
            reply: ScriptedReply = entry[0]
            if entry[1] > 0:
                entry[1] -= 1
                if entry[1] == 0:
                    self._scripts.popleft()
            return reply

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def set_fault_rate(
        self, rate: float, kinds: Iterable[FaultKind | str] | None, seed: int | None
    ) -> None:
        with self._lock:
            self._rate = float(rate)
            self._rate_kinds = tuple(FaultKind(k) for k in (kinds or DEFAULT_RATE_KINDS))
            self._rng = random.Random(seed)

    def next_fault(self) -> Fault | None:
        with self._lock:
            fault = None
            if self._faults:
                fault = self._faults.popleft()
            elif self._rate > 0 and self._rng.random() < self._rate:
                fault = Fault(kind=self._rng.choice(self._rate_kinds))
            self.faults_injected += fault is not None
            return fault

    @property
    def pending(self) -> dict[str, int]:
        with self._lock:
            return {"scripts": len(self._scripts), "faults": len(self._faults)}

    # -- recording -------------------------------------------------------------------
    @staticmethod
    def _new_record(
        config: EmulatorConfig, kept: Iterable[RecordedRequest] = ()
    ) -> deque[RecordedRequest]:
        if config.max_recorded_requests < 0:
            raise ValueError(
                f"max_recorded_requests={config.max_recorded_requests}: pass 0 or more"
            )
        return deque(kept, maxlen=config.max_recorded_requests)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)  # the oldest leaves once the record is full
            self.requests_received += 1

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()
            self.requests_received = 0
            self.faults_injected = 0

    def count_connection(self) -> None:
        with self._lock:
            self.connections_opened += 1

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._faults.clear()
            self._rate = 0.0
            self._rate_kinds = DEFAULT_RATE_KINDS
            self._rng = random.Random(0)
            self.connections_opened = 0
            self.requests_received = 0
            self.faults_injected = 0
            self.config = self.initial_config
            self._requests = self._new_record(self.config)
        self.prompt_cache.clear()
