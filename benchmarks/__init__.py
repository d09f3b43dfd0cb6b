"""Benchmarks: cf-mistral's overhead against raw httpx and the peers (``python -m benchmarks``).

Scenario modules (``latency``, ``streaming``, ``concurrency``, ``imports``, ``memory``,
``capacity``) each add their columns to one :class:`~benchmarks._report.Report`; the emulator
runs in its own process (:mod:`benchmarks._server`). ``soak.py`` is the reliability soak and
is run on its own (``make soak``).
"""
