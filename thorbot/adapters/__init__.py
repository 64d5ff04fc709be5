"""Thin adapters around the outside world: Thor (httpx), Redis, Slack."""
