"""`thorbot doctor` as a real process: a ✓/✗ line per check, with the fix, against the fakes and a real Redis."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from redis.asyncio import Redis

from tests.helpers import SECRETS_KEY, SIGNING_SECRET, SLACK_TOKEN, THOR_KEY, fake_pagerduty
from tests.test_cli_processes import free_port
from tests.test_pagers import ROUTING_KEY
from thorbot.adapters.pager_store import PagerStore
from thorbot.adapters.secrets_box import SecretBox
from thorbot.domain.pager import PagerLink
from thorbot.sim.slack_server import FakeSlack
from thorbot.sim.thor_server import FakeThor


async def doctor(*args: str, cwd: Path | None = None, **env_values: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THOR", "SLACK", "REDIS"))}
    env.update({"COLUMNS": "200", "TERM": "dumb", **env_values})
    if cwd is not None:  # run from there (its .env is read), with thorbot importable as from the checkout
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "thorbot.cli.main", "doctor", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                                                cwd=cwd)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def good(fake_thor: FakeThor, fake_slack: FakeSlack, redis_url: str) -> dict[str, str]:
    return {"THOR_API_KEY": THOR_KEY, "THOR_API_URL": fake_thor.base_url, "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": fake_slack.base_url + "/api/",
            "REDIS_URL": redis_url}


async def test_a_healthy_setup_passes_every_check(fake_thor: FakeThor, fake_slack: FakeSlack, redis_url: str) -> None:
    code, out = await doctor(**good(fake_thor, fake_slack, redis_url))
    assert code == 0, out
    for line in ("✓ Slack auth.test: bot @thorbot", "✓ Slack scopes", "✓ Thor API (key, source IP, REST enabled): 6",
                 "✓ Redis: reachable", "All checks passed."):
        assert line in out, out
    assert THOR_KEY not in out and SLACK_TOKEN not in out


async def test_an_app_installed_before_user_groups_were_kept_is_warned_not_failed(
        fake_thor: FakeThor, fake_slack: FakeSlack, redis_url: str) -> None:
    fake_slack.scopes.remove("usergroups:write")
    code, out = await doctor(**good(fake_thor, fake_slack, redis_url))
    assert code == 0, out
    assert "⚠ Slack scopes: missing usergroups:write (only for rotations that keep a user group" in out, out


async def test_each_problem_gets_a_cross_and_its_fix(fake_thor: FakeThor, fake_slack: FakeSlack,
                                                     tmp_path: Path) -> None:
    fake_slack.scopes.remove("im:write")
    fake_thor.faults.error = "InvalidSourceIPAddr"
    env = good(fake_thor, fake_slack, f"redis://127.0.0.1:{free_port()}/0")
    del env["SLACK_SIGNING_SECRET"]
    code, out = await doctor(**env)
    assert code == 1, out
    assert "✗ SLACK_SIGNING_SECRET: not set" in out
    assert "✗ Slack scopes: missing im:write" in out and "reinstall" in out
    assert "✗ Thor API (key, source IP, REST enabled): InvalidSourceIPAddr" in out and "Source IP address" in out
    assert "✗ Redis" in out and "fix: check REDIS_URL" in out
    assert "Traceback" not in out


async def test_a_revoked_slack_token_and_a_wrong_thor_url(fake_thor: FakeThor, fake_slack: FakeSlack,
                                                          redis_url: str) -> None:
    env = {**good(fake_thor, fake_slack, redis_url), "SLACK_BOT_TOKEN": "xoxb-revoked",
           "THOR_API_URL": fake_thor.base_url.replace("latest", "v9")}
    code, out = await doctor(**env)
    assert code == 1
    assert "✗ Slack auth.test: invalid_auth" in out
    assert "EndpointNotFound" in out and "THOR_API_URL" in out


async def test_doctor_says_how_to_allow_stopping_charges(fake_thor: FakeThor, fake_slack: FakeSlack,
                                                         redis_url: str) -> None:
    code, out = await doctor(**good(fake_thor, fake_slack, redis_url))
    assert code == 0, out  # a warning, not a failure: stops are off by default on purpose
    assert "⚠ THORBOT_OPERATORS: empty" in out and "set THORBOT_OPERATORS to the Slack user ids" in out
    code, out = await doctor(**good(fake_thor, fake_slack, redis_url), THORBOT_OPERATORS="S0123OPS,U0ALICE")
    assert "✓ THORBOT_OPERATORS: set" in out


async def test_names_instead_of_slack_ids_are_refused_at_start() -> None:
    code, out = await doctor(THORBOT_ADMINS="bob,@alice", THORBOT_OPERATORS="U0ALICE")
    assert code == 2
    assert "THORBOT_ADMINS: '@alice', 'bob' are not a Slack user id (U…/W…) or user-group id (S…)" in out, out
    assert "Traceback" not in out


async def test_a_zone_that_is_not_one_is_one_line_not_a_traceback() -> None:
    for zone in ("Europe", "Factory", "x" * 300):
        code, out = await doctor(THORBOT_TIMEZONE=zone)
        assert code == 2 and "THORBOT_TIMEZONE: must be a time zone name" in out, out
        assert "Traceback" not in out


async def test_doctor_checks_each_pager_and_sends_a_test_only_when_asked(
        fake_thor: FakeThor, fake_slack: FakeSlack, redis_url: str, redis: Redis) -> None:
    async with fake_pagerduty(ROUTING_KEY) as pagerduty:
        sealed = SecretBox(SECRETS_KEY).seal(ROUTING_KEY)
        await PagerStore(redis).set_link("C0ALERTS", PagerLink(kind="pagerduty", sealed=sealed))
        env = {**good(fake_thor, fake_slack, redis_url), "THORBOT_SECRETS_KEY": SECRETS_KEY,
               "THORBOT_PAGERDUTY_EVENTS_URL": pagerduty.events_url, "THORBOT_ALLOW_LOOPBACK_URLS": "true"}
        code, out = await doctor(**env)
        assert code == 0 and "✓ Pager of C0ALERTS (PagerDuty): connected; its key opens" in out, out
        assert pagerduty.requests == []  # no test event unless asked
        code, out = await doctor("--send-test", **env)
        assert code == 0 and "a test event was triggered and resolved" in out, out
        assert [r["event_action"] for r in pagerduty.requests] == ["trigger", "resolve"]
        pagerduty.revoked.add(ROUTING_KEY)
        code, out = await doctor("--send-test", **env)
        assert code == 1 and "✗ Pager of C0ALERTS" in out and "refused" in out, out
        code, out = await doctor(**{**env, "THORBOT_SECRETS_KEY": SecretBox.new_key()})
        assert code == 1 and "its key cannot be opened" in out, out
        assert ROUTING_KEY not in out and SECRETS_KEY not in out


async def test_doctor_prints_a_new_secrets_key() -> None:
    code, out = await doctor("--new-secrets-key")
    assert code == 0
    SecretBox(out.strip())  # a valid key


async def test_an_env_copied_unchanged_from_the_example_is_not_set(redis_url: str, tmp_path: Path) -> None:
    """`cp .env.example .env` and nothing else: every placeholder is "not set", with the fix; piped, no line is
    hard-wrapped at 80 columns."""
    example = (Path(__file__).resolve().parents[1] / ".env.example").read_text(encoding="utf-8")
    (tmp_path / ".env").write_text(example, encoding="utf-8")
    (tmp_path / ".env.example").write_text(example, encoding="utf-8")
    code, out = await doctor(cwd=tmp_path, COLUMNS="80", REDIS_URL=redis_url, THORBOT_METRICS_TOKEN="changeme",
                             THORBOT_HEARTBEAT_URL="https://hc-ping.com/<your-check-uuid>")
    assert code == 1, out
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "THOR_API_KEY"):
        assert f"✗ {name}: not set: copied unchanged from .env.example" in out, out
    assert "✗ THORBOT_METRICS_TOKEN: not set: a placeholder, not a value" in out, out
    assert "✗ THORBOT_HEARTBEAT_URL: not set: a placeholder in <angle brackets>, not a value" in out, out
    assert "✓ SLACK_BOT_TOKEN" not in out and "✓ THOR_API_KEY" not in out
    assert ("      fix: set SLACK_SIGNING_SECRET: from the Slack app's Basic Information page; needed to verify "
            "Slack's requests") in out, out  # one line, though longer than 80 columns


async def test_network_problems_are_said_in_plain_words(redis_url: str) -> None:
    code, out = await doctor(THOR_API_KEY=THOR_KEY, THOR_API_URL="https://thor.invalid/latest/integration",
                             SLACK_BOT_TOKEN=SLACK_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                             SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/", REDIS_URL=redis_url)
    assert code == 1, out
    assert "✗ Thor API (key, source IP, REST enabled): cannot resolve the host name thor.invalid" in out, out
    assert "✗ Slack auth.test: connection refused by 127.0.0.1" in out, out
    assert "ClientConnector" not in out and "Traceback" not in out
