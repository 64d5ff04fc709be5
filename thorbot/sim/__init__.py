"""Simulated outside world: a Thor fleet served over loopback and a fake Slack Web API.

Used by `thorbot demo`, the test suite and the benchmarks, so all three run the same fakes.
"""
