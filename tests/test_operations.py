"""Running thorbot for real: /metrics (scraped over HTTP, its figures moving), the dead-man's switch (a fake
heartbeat receiver), /readyz, JSON logs with secrets redacted, `.env`, and the CLI's first impression."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from tests.helpers import THOR_KEY, AppRig
from tests.worker_rig import Clock, box_drops, make_worker, poll, subscribe
from thorbot.adapters import keys, metrics
from thorbot.adapters.thor import ThorClient
from thorbot.errors import ThorError
from thorbot.redact import configure_logging, register_secret
from thorbot.settings import Settings
from thorbot.sim.loopback import LoopbackServer
from thorbot.sim.thor_server import FakeThor

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def scrape(rig: AppRig, token: str | None = TOKEN) -> tuple[int, dict[tuple[str, frozenset[tuple[str, str]]],
                                                                          float]]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    response = await rig.http.get(rig.url + "/metrics", headers=headers)
    return response.status_code, metrics.as_dict(response.content) if response.status_code == 200 else {}


def value(figures: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    wanted = set(labels.items())
    found = [v for (n, ls), v in figures.items() if n == name and wanted <= set(ls)]
    return sum(found) if found else None


@pytest.mark.parametrize("rig", [{"metrics_token": TOKEN}], indirect=True)
async def test_a_scrape_of_serve_shows_the_workers_figures_moving(rig: AppRig, clock: Clock) -> None:
    rig.use_clock(clock)
    status, before = await scrape(rig)
    assert status == 200 and value(before, "thorbot_worker_last_cycle_timestamp_seconds") is None  # never, not 0
    assert (await scrape(rig, "wrong"))[0] == 401 and (await scrape(rig, None))[0] == 401
    worker, box = await box_drops(rig, clock)
    _, first = await scrape(rig)
    cycled = value(first, "thorbot_worker_last_cycle_timestamp_seconds", process="worker")
    assert cycled == pytest.approx(clock.now.timestamp(), abs=1)
    assert value(first, "thorbot_incidents_open", kind="offline", process="worker") is None
    await poll(worker, clock, rig, 150)  # past the grace: an offline incident, alerted
    _, after = await scrape(rig)
    assert value(after, "thorbot_incidents_open", kind="offline", process="worker") == 1  # the gauge rose
    assert value(after, "thorbot_worker_last_cycle_timestamp_seconds", process="worker") > cycled  # type: ignore
    assert value(after, "thorbot_worker_cycle_duration_seconds_count", process="worker") == 3
    assert value(after, "thorbot_thor_requests_total", outcome="ok", process="worker")
    # (the worker publishes at the end of its poll, before delivering: this cycle's posts show from the next)
    assert value(after, "thorbot_slack_requests_total", method="chat.postMessage", outcome="ok")
    assert value(after, "thorbot_lease_holder", worker="w1") == 1
    assert value(after, "thorbot_outbox_jobs") == 0
    _, key = await rig.command(f"{box.id}")
    await rig.reply(key)
    _, served = await scrape(rig)
    assert value(served, "thorbot_slash_ack_duration_seconds_count", process="serve") == 2  # subscribe, the card
    assert not any("box" in dict(labels) for _, labels in served)  # no box ids as labels
    worker_only = {name for name, labels in served if dict(labels).get("process") == "worker"
                   and any(name.startswith(family) for family in metrics.WORKER_ONLY)}
    assert len(worker_only) >= 6  # (every family in WORKER_ONLY exists, as the worker's)…
    assert not any(any(name.startswith(family) for family in metrics.WORKER_ONLY)
                   and dict(labels).get("process") == "serve" for name, labels in served)  # …and none as serve's


def test_the_workers_snapshot_carries_what_its_exposition_does() -> None:
    own = metrics.Metrics()
    own.thor_call("/chargeboxes", "ok", 0.2)
    own.cycle_done(ok=True, seconds=1.5, at=1_800_000_000.0, states={"online": 3}, incidents={"offline": 1})
    own.boxes.labels("odd").set(float("nan"))
    exposition = own.exposition()

    def read(raw: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return {(s.name, frozenset(s.labels.items())): s.value for f in metrics.families(raw) for s in f.samples}

    expected = metrics.as_dict(exposition)
    for raw in (own.snapshot(), exposition):  # (the text from a worker not yet upgraded is read too)
        got = read(raw)
        assert got.keys() == expected.keys() and len(got) > 20
        assert all(got[k] == v or (math.isnan(got[k]) and math.isnan(v)) for k, v in expected.items())
    assert read(b'[["thorbot_x", "doc", "gauge", "", [["thorbot_x", {}, 1.0, "more"]]]]') == {}  # a newer shape


async def test_without_a_token_there_is_no_metrics_route(rig: AppRig) -> None:
    assert (await scrape(rig))[0] == 404


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[str]]]:
    pings: list[str] = []

    async def ping(request: web.Request) -> web.Response:
        pings.append(request.path)
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_get("/ping/{uuid}", ping)
    server = await LoopbackServer(app).start()
    try:
        yield server.url + "/ping/5f1c2b7e-secret", pings
    finally:
        await server.stop()


async def test_the_heartbeat_is_pinged_once_per_good_cycle_and_never_when_thor_fails(
        rig: AppRig, clock: Clock, receiver: tuple[str, list[str]], caplog: pytest.LogCaptureFixture) -> None:
    url, pings = receiver
    rig.use_clock(clock)
    await subscribe(rig, "all")
    worker = make_worker(rig, clock, heartbeat_url=url)
    for _ in range(3):
        await poll(worker, clock, rig, 60)
    assert len(pings) == 3
    rig.thor.faults.error = "InternalServerError"
    for _ in range(2):
        await poll(worker, clock, rig, 60)
    assert len(pings) == 3  # Thor failing: no ping, so the outside service pages
    rig.thor.faults.error = None
    await poll(worker, clock, rig, 60)
    assert len(pings) == 4
    standby = make_worker(rig, clock, "w2", heartbeat_url=url)
    await poll(standby, clock, rig, 1)  # not the leader: it pings nothing
    assert len(pings) == 4
    assert "5f1c2b7e-secret" not in caplog.text


async def test_readyz_says_whether_a_worker_cycled_recently(rig: AppRig, clock: Clock) -> None:
    rig.use_clock(clock)
    response = await rig.http.get(rig.url + "/readyz")
    assert response.status_code == 503 and response.json()["worker_last_cycle"] is None
    await subscribe(rig, "all")
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    response = await rig.http.get(rig.url + "/readyz")
    assert response.status_code == 200 and response.json()["ready"] is True
    clock.advance(6 * rig.settings.poll_interval)  # five intervals without a cycle
    response = await rig.http.get(rig.url + "/readyz")
    assert response.status_code == 503 and response.json()["worker_cycle_age_seconds"] > 0
    assert (await rig.http.get(rig.url + "/healthz")).status_code == 200  # liveness is not readiness
    home = json.dumps(await rig.open_home("U0ALICE"))
    assert "more than 5 intervals ago" in home


async def test_readyz_needs_thors_last_poll_to_have_succeeded_even_with_nothing_watched(
        rig: AppRig, clock: Clock) -> None:
    """Nothing subscribed yet, so nothing is polled: the worker probes Thor each cycle all the same, and
    /readyz is 503 while Thor fails (it said 200 with Thor unreachable), 200 once Thor answers again."""
    rig.use_clock(clock)
    worker = make_worker(rig, clock)
    await poll(worker, clock, rig)
    response = await rig.http.get(rig.url + "/readyz")
    assert response.status_code == 200 and response.json()["thor"] == "ok", response.json()
    rig.thor.faults.error = "InternalServerError"
    await poll(worker, clock, rig, rig.settings.poll_interval)
    response = await rig.http.get(rig.url + "/readyz")
    body = response.json()
    assert response.status_code == 503 and body["thor"] == "failing: InternalServerError", body
    assert body["why"].startswith("the worker's last call to Thor failed (InternalServerError; 1 in a row"), body
    assert body["worker_cycle_age_seconds"] <= rig.settings.poll_interval  # the cycle itself is recent
    rig.thor.faults.error = None
    await poll(worker, clock, rig, rig.settings.poll_interval)
    response = await rig.http.get(rig.url + "/readyz")
    assert response.status_code == 200 and response.json()["ready"] is True, response.json()


async def test_help_says_when_the_worker_last_cycled(rig: AppRig, clock: Clock) -> None:
    rig.use_clock(clock)
    _, key = await rig.command("help")
    assert "No worker has completed a poll cycle yet" in json.dumps(await rig.reply(key))
    await subscribe(rig, "all")
    await poll(make_worker(rig, clock), clock, rig)
    _, key = await rig.command("help")
    assert "The worker last completed a poll cycle" in json.dumps(await rig.reply(key))


def test_json_logs_carry_context_and_no_secret() -> None:
    register_secret("xoxb-very-secret-token-42")
    stream = io.StringIO()
    configure_logging("INFO", "json")
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        logging.getLogger("thorbot.test").warning("posting with %s failed", "xoxb-very-secret-token-42",
                                                 extra={"channel": "C0ALERTS", "box_id": "BOX-1"})
    finally:
        configure_logging("WARNING")
    line = json.loads(stream.getvalue().strip())
    assert line["level"] == "WARNING" and line["channel"] == "C0ALERTS" and line["box_id"] == "BOX-1"
    assert "xoxb-very-secret-token-42" not in stream.getvalue() and "[redacted]" in line["message"]
    assert line["ts"].endswith("Z")


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("THORBOT_", "SLACK_", "THOR_", "REDIS_")):
            monkeypatch.delenv(name)
    (tmp_path / ".env").write_text("THORBOT_POLL_INTERVAL=45  # from the file\nTHORBOT_TIMEZONE=Europe/Rome\n"
                                   "THORBOT_ADMINS=\n")
    monkeypatch.setenv("THORBOT_TIMEZONE", "Asia/Tokyo")
    settings = Settings()
    assert settings.poll_interval == 45 and settings.timezone == "Asia/Tokyo" and settings.admins == ""


def test_dotenv_values_are_taken_as_written_and_an_empty_variable_of_the_environment_wins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("THORBOT_", "SLACK_", "THOR_", "REDIS_")):
            monkeypatch.delenv(name)
    (tmp_path / ".env").write_text("THORBOT_EVCHART_NETWORK_PROVIDER=${SECRET_OF_THE_HOST}\n"
                                   "THORBOT_POLL_INTERVAL=45\nTHORBOT_TIMEZONE=Europe/Rome\n"
                                   "THORBOT_WORKER_ID=from-the-file\n")
    monkeypatch.setenv("SECRET_OF_THE_HOST", "hunter2")
    monkeypatch.setenv("THORBOT_TIMEZONE", "")  # present, empty: the default, not the file's
    monkeypatch.setenv("thorbot_worker_id", "")  # names are case-insensitive, on both sides
    settings = Settings()
    assert settings.evchart_network_provider == "${SECRET_OF_THE_HOST}"  # no expansion from the environment
    assert settings.poll_interval == 45 and settings.timezone == "UTC" and settings.worker_id == ""


def test_a_dotenv_that_is_not_utf8_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"THORBOT_POLL_INTERVAL=45\nTHORBOT_EVCHART_NETWORK_PROVIDER=Caf\xe9 secret\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THOR", "SLACK", "REDIS"))}
    done = subprocess.run([sys.executable, "-m", "thorbot.cli.main", "report"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == ["thorbot: invalid configuration: .env: line 2 is not UTF-8 text; save the "
                                        "file as UTF-8"]


def test_every_line_of_env_example_works_when_uncommented(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("THORBOT_", "SLACK_", "THOR_", "REDIS_")):
            monkeypatch.delenv(name)
    example = (Path(__file__).parent.parent / ".env.example").read_text()
    lines = [line[2:] if line.startswith("# ") and "=" in line.split()[1] else line for line in example.splitlines()
             if line.strip()]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    settings = Settings()  # every value as written is valid (the placeholders too)
    assert settings.poll_interval == 60 and settings.metrics_port == 9464


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_the_vm_guides_systemd_units_verify(tmp_path: Path) -> None:
    """The units in docs/operations.md, as systemd would load them (syntax, directives, that ExecStart runs),
    with the guide's /opt/thorbot/app replaced by this checkout and its service user by whoever runs this."""
    import getpass
    import re
    import subprocess

    root = Path(__file__).parent.parent
    text = (root / "docs" / "operations.md").read_text()
    units = re.findall(r"```ini\n\s*# /etc/systemd/system/(thorbot-\w+\.service)\n(.*?)```", text, re.S)
    assert [name for name, _ in units] == ["thorbot-serve.service", "thorbot-worker.service"]
    for name, body in units:
        unit = "\n".join(line.strip() for line in body.splitlines())
        unit = unit.replace("/opt/thorbot/app", str(root)).replace("/opt/thorbot", str(tmp_path))
        unit = unit.replace("User=thorbot", f"User={getpass.getuser()}")
        (tmp_path / name).write_text(unit)
        assert f"ExecStart={root}/.venv/bin/thorbot " in unit and (root / ".venv" / "bin" / "thorbot").exists()
    result = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / n) for n, _ in units)],  # noqa: S603
                            capture_output=True, text=True, timeout=60, check=False)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "thorbot-" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


async def cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "thorbot.cli.main", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_thorbot_alone_prints_help_and_bad_demo_flags_one_line_each() -> None:
    code, out, _ = await cli()
    assert code == 0 and "serve" in out and "worker" in out and "demo" in out
    code, out, err = await cli("demo", "--speed", "fast", "--boxes", "-3", "--seed", "x")
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 3 and any("--speed" in x for x in lines) and any("--boxes" in x for x in lines)


async def test_the_dashboard_and_alert_rules_parse_and_use_metrics_that_exist(redis: Redis) -> None:
    """The names the dashboard and the alert rules use are read from a real scrape (the registry's instruments and
    the outbox's and lease's gauges read from Redis at scrape time): renaming a metric fails here."""
    import re

    import yaml

    text = (Path(__file__).parent.parent / "docs" / "operations.md").read_text()
    dashboard = json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))  # type: ignore[union-attr]
    rules = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    groups = next(r for r in rules if "groups" in r)["groups"]
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]] + \
        [rule["expr"] for g in groups for rule in g["rules"]]
    instruments = metrics.Metrics()
    instruments.last_cycle.set(1.0)  # (absent until a cycle completes)
    await redis.zadd(keys.OUTBOX_DUE, {"job-1": 1.0})  # the oldest job's and the holder's gauges are absent
    await redis.set(keys.LEASE, "worker-1:token")       # when there is none
    exposition = await metrics.scrape(redis, instruments, "worker")
    known = {family.name for family in text_string_to_metric_families(exposition.decode())}
    assert {"thorbot_outbox_oldest_job_timestamp_seconds", "thorbot_lease_holder"} <= known  # the setup took
    used = {n for e in exprs for n in re.findall(r"thorbot_[a-z_]+", e)}
    suffixes = ("_total", "_bucket", "_count", "_sum")
    assert all(n in known or any(n.endswith(s) and n[: -len(s)] in known for s in suffixes) for n in used), used
    assert {"thorbot_worker_last_cycle_timestamp_seconds", "thorbot_incidents_open"} <= used
    titles = {rule["alert"] for g in groups for rule in g["rules"]}
    assert {"ThorbotWorkerStalled", "ThorbotOutboxBackingUp", "ThorbotThorFailing", "ThorbotSlackRateLimited"} <= titles


def series(exposition: bytes, family: str) -> set[frozenset[tuple[str, str]]]:
    return {labels for name, labels in metrics.as_dict(exposition) if name.startswith(family)
            and not name.endswith("_bucket")}


def random_tokens(count: int) -> list[str]:
    import random
    import string

    rng = random.Random(15)
    return ["".join(rng.choices(string.ascii_letters, k=12)) for _ in range(count)]


async def test_500_error_tokens_from_thor_make_one_series_not_500(fake_thor: FakeThor) -> None:
    box = next(iter(fake_thor.fleet.boxes))
    fake_thor.faults.error_status = 400  # a refusal: not retried, one request each
    own = metrics.Metrics()
    client = ThorClient(fake_thor.base_url, THOR_KEY, timeout=5, retries=0, metrics=own)
    try:
        for token in random_tokens(500):
            fake_thor.faults.error = token
            with pytest.raises(ThorError):
                await client.get_chargebox(box)
    finally:
        await client.aclose()
    found = series(own.exposition(), "thorbot_thor_requests")
    assert found == {frozenset({("endpoint", "/chargeboxes/{id}"), ("outcome", "other")})}


def test_every_label_of_every_metric_takes_values_from_a_fixed_set() -> None:
    own = metrics.Metrics()
    labelled = {name: value for name, value in vars(own).items()
                if isinstance(value, metrics.MetricWrapperBase) and value._labelnames}
    assert labelled == {}, f"labelled metrics not wrapped in Bounded: {sorted(labelled)}"
    own.allow_worker("w1")
    tokens = random_tokens(500)
    for n, token in enumerate(tokens):
        own.thor_call(f"/{token}/{n}", token, 0.1)
        own.slack_call(token, token, 0.1)
        own.cycle_done(ok=True, seconds=1.0, at=1.0, states={token: 1, "online": 2}, incidents={token: 1})
        own.heartbeats.labels(token).inc()
        own.leader.labels(token).set(1)
    text = own.exposition()
    for family in ("thorbot_thor_requests", "thorbot_thor_request_duration", "thorbot_slack_requests",
                   "thorbot_slack_request_duration", "thorbot_heartbeat_pings", "thorbot_worker_leader",
                   "thorbot_boxes", "thorbot_incidents_open"):
        values = {v for labels in series(text, family) for k, v in labels if k != "le"}
        assert values and values <= {"other", "online"}, (family, sorted(values)[:5])
    assert metrics.bounded("w1", own.worker_ids) == "w1" and metrics.bounded("offline", metrics.INCIDENT_KINDS)


def test_the_fixed_sets_hold_every_value_thorbot_itself_gives() -> None:
    import re

    from thorbot.adapters import slack, thor

    assert set(thor.KNOWN_CODES) <= metrics.THOR_OUTCOMES and slack.PERMANENT <= metrics.SLACK_OUTCOMES
    root = Path(metrics.__file__).parents[1]
    called = {m for path in root.rglob("*.py") for m in re.findall(r'\.call\("([a-zA-Z.]+)"', path.read_text())}
    assert called and called <= metrics.SLACK_METHODS
    for path in ("/chargeboxes", "/chargeboxes/B-1", "/charges/running", "/charges/finished", "/charges/stop"):
        assert metrics.thor_endpoint(path) in metrics.THOR_ENDPOINTS
