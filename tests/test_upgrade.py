"""Jobs the previous version queued in Redis (one Job model with every field optional; tests/data/jobs_v1.json
was written by it) still deliver after the upgrade to one model per kind."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import AppRig
from tests.worker_rig import Clock, make_worker
from thorbot.adapters import keys
from thorbot.adapters.session_store import StopRequest
from thorbot.domain.digest import DigestPlan, latest_due
from thorbot.domain.incidents import Incident
from thorbot.domain.notify import (
    AlertJob,
    DigestJob,
    EscalateDmJob,
    EscalateJob,
    RecoveryJob,
    StopOutcomeJob,
    StuckJob,
    ThorDownJob,
    ThorUpJob,
    read_job,
)

V1 = json.loads((Path(__file__).parent / "data" / "jobs_v1.json").read_text())
CREATED = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_every_kind_the_previous_version_wrote_reads_into_its_own_model() -> None:
    kinds = {"alert": AlertJob, "recovery": RecoveryJob, "thor_down": ThorDownJob, "thor_up": ThorUpJob,
             "escalate": EscalateJob, "escalate_dm": EscalateDmJob, "session_stuck": StuckJob,
             "stop_outcome": StopOutcomeJob, "digest": DigestJob}
    assert set(V1) == set(kinds)
    for kind, model in kinds.items():
        job = read_job(json.dumps(V1[kind]))
        assert type(job) is model and job.id == V1[kind]["id"] and job.channel == "C0OLD"
    assert read_job(json.dumps(V1["escalate"])).count == 1  # type: ignore[union-attr]
    stuck = read_job(json.dumps(V1["session_stuck"]))
    assert isinstance(stuck, StuckJob) and stuck.reason == "stalled" and stuck.flat_since == CREATED - timedelta(
        minutes=40)
    outcome = read_job(json.dumps(V1["stop_outcome"]))
    assert isinstance(outcome, StopOutcomeJob) and outcome.confirmed is True
    digest = read_job(json.dumps(V1["digest"]))
    assert isinstance(digest, DigestJob) and digest.cadence == "daily" and digest.due_at == CREATED - timedelta(hours=3)
    alert = read_job(json.dumps(V1["alert"]))
    assert alert.attempted and alert.batches == ["b0123456789abcde"]


@pytest.mark.parametrize("kind", ["alert", "session_stuck", "stop_outcome", "digest", "thor_down"])
async def test_a_job_queued_by_the_previous_version_is_delivered(rig: AppRig, kind: str) -> None:
    clock = Clock()
    clock.now = CREATED + timedelta(minutes=1)
    rig.use_clock(clock)
    redis = rig.ctx.redis
    await rig.ctx.stores.subscriptions.subscribe("C0OLD", ["BOX1"])
    incident = Incident(id="BOX1@1764000000:offline", box_id="BOX1", alias="Old box", kind="offline",
                        started=CREATED - timedelta(minutes=5), opened=CREATED)
    await redis.set(keys.incident(incident.id), incident.model_dump_json())
    await redis.set(keys.stop_request("stop0001"), StopRequest(
        id="stop0001", box_id="BOX1", alias="Old box", connector=1, transaction=4242, by="U0ALICE",
        at=CREATED - timedelta(minutes=2), thor_answer="accepted", settled_at=CREATED).model_dump_json())
    if kind == "digest":  # today's digest counts as queued already: the worker queues no other
        plan = DigestPlan(cadence="daily", at="09:00", zone="UTC")
        await rig.ctx.stores.digests.set("C0OLD", plan.model_copy(
            update={"last_period": latest_due(plan, clock.now).period}))
    raw = json.dumps(V1[kind])
    await redis.hset(keys.OUTBOX, V1[kind]["id"], raw)
    await redis.zadd(keys.OUTBOX_DUE, {V1[kind]["id"]: CREATED.timestamp()})
    worker = make_worker(rig, clock)
    await worker.tick(poll=False)
    assert await redis.hlen(keys.OUTBOX) == 0
    [posted] = rig.slack.posts("C0OLD")
    words = {"alert": "Old box", "session_stuck": "has not drawn energy", "stop_outcome": "Confirmed",
             "digest": "daily digest", "thor_down": "Thor"}
    assert words[kind] in posted.text + json.dumps(posted.blocks), posted.text
