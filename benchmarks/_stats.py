"""Order statistics and the interleaved runner every timing scenario uses."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["Samples", "interleaved", "median", "p90", "paired", "ratio"]

K = TypeVar("K")

Samples = dict[str, list[float]]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def p90(values: Sequence[float]) -> float:
    """The 90th percentile (nearest rank), robust for the few hundred samples we take."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline > 0 else math.nan


def interleaved(
    keys: Sequence[str],
    measure: Callable[[str], float | None],
    *,
    rounds: int,
    warmup: int,
) -> Samples:
    """Run ``measure(key)`` for every key, round after round, in a rotating order.

    A B C, B C A, C A B …: drift on a noisy shared machine (another process waking up, CPU
    frequency) lands on every contender alike, and no contender always follows the same
    neighbour (whose garbage or warm caches it would inherit). Warm-up rounds are dropped.
    ``measure`` may return ``None`` to record nothing for that call.
    """
    samples: Samples = {key: [] for key in keys}
    n = len(keys)
    for index in range(warmup + rounds):
        shift = index % n if n else 0
        for key in [*keys[shift:], *keys[:shift]]:
            value = measure(key)
            if index >= warmup and value is not None:
                samples[key].append(value)
    return samples


def paired(
    keys: Sequence[str],
    measure: Callable[[str], float],
    *,
    baseline: str,
    rounds: int,
    warmup: int,
    block: int = 20,
    settle: int = 3,
) -> dict[str, tuple[list[float], list[float]]]:
    """Per key, ``rounds`` pairs of (key call, baseline call): A F A F … in blocks.

    Each contender's figure is then its median over the median of the baseline calls paired
    with it. Pairs rather than every contender in one rotation: with a dozen contenders between
    two calls of the same one, every call starts with caches filled by the others, and a
    contender with more code pays for the dozen others rather than for itself. The pairs come
    in blocks of ``block``, the blocks of all contenders in a rotating order, so every
    contender's samples spread over the whole run and drift lands on all alike. The order
    within a pair alternates. Each contender's first block is preceded by ``warmup`` pairs and
    every block by ``settle`` unrecorded ones: the first two or three calls after another
    contender ran are cold (for our adapters up to twice the warm time beyond the I/O), and
    the scenario is sequential calls after warm-up.
    """
    out: dict[str, tuple[list[float], list[float]]] = {
        key: ([], []) for key in keys if key != baseline
    }
    contenders = list(out)
    blocks = max(1, -(-rounds // block))
    for index in range(blocks):
        shift = index % len(contenders) if contenders else 0
        for key in [*contenders[shift:], *contenders[:shift]]:
            own, base = out[key]
            skipped = settle + (warmup if index == 0 else 0)
            for pair in range(skipped + min(block, rounds - index * block)):
                order = (baseline, key) if pair % 2 else (key, baseline)
                values = {name: measure(name) for name in order}
                if pair >= skipped:
                    own.append(values[key])
                    base.append(values[baseline])
    return out
