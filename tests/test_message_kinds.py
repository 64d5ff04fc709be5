"""A message kind is one unit: its job model declares its delivery (order, skip policy, retry policy), and
worker/kinds.py pairs it with its sender, once. Both are checked at import; these tests plant each missing
piece and see the check fail, and pin every kind's delivery to what it was before the declarations moved.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest

from tests.helpers import AppRig
from thorbot.domain.backoff import PAGES, SLACK
from thorbot.domain.notify import (
    JOB_MODELS,
    AlertJob,
    Delivery,
    DigestJob,
    Job,
    JobKind,
    Skip,
    SkipWhen,
    _Job,
    _models_by_kind,
    read_job,
    skip_reason,
)
from thorbot.runtime import build_worker
from thorbot.worker.kinds import KINDS, MessageKind, register
from thorbot.worker.senders import BaseSender

PKG = Path(__file__).resolve().parents[1] / "thorbot"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# Before the declarations, notify.KIND_ORDER: the order of messages created at the same moment in one channel.
ORDER_BEFORE = {JobKind.THOR_DOWN: 0, JobKind.ALERT: 1, JobKind.ESCALATE: 2, JobKind.ESCALATE_DM: 3,
                JobKind.SESSION_STUCK: 4, JobKind.RECOVERY: 5, JobKind.STOP_OUTCOME: 6, JobKind.THOR_UP: 7,
                JobKind.DIGEST: 8, JobKind.CONNECTOR_NOTICE: 4, JobKind.PAGE: 1, JobKind.PAGER_NOTICE: 6,
                JobKind.HANDOFF: 0, JobKind.CAUSE_REMINDER: 6, JobKind.USERGROUP: 0, JobKind.NOTICE: 6,
                JobKind.DRIVER_REPORT: 5}
# Before, notify.skip_reason switched on kinds: which kinds each gathered fact could skip.
SKIPPED_BEFORE = {
    Skip.UNWATCHED: {JobKind.ALERT, JobKind.RECOVERY, JobKind.SESSION_STUCK, JobKind.CONNECTOR_NOTICE,
                     JobKind.DRIVER_REPORT},
    Skip.HELD: {JobKind.ALERT, JobKind.SESSION_STUCK, JobKind.CONNECTOR_NOTICE},
    Skip.NEVER_ALERTED: {JobKind.RECOVERY, JobKind.DRIVER_REPORT},
    Skip.SETTLED: {JobKind.ESCALATE, JobKind.ESCALATE_DM},
    Skip.GROUP_TARGET: {JobKind.ESCALATE_DM},
    Skip.DM_RETRY: {JobKind.ESCALATE_DM},
}


def a_job(kind: JobKind, *, attempted: bool = False) -> Job:
    """A job of `kind` as the previous version stored it: every field of every kind (extra ones are ignored)."""
    return read_job(f'{{"kind": "{kind.value}", "id": "x", "channel": "C1", "created": "{NOW.isoformat()}", '
                    f'"attempted": {str(attempted).lower()}, "incident_id": "i", "box_id": "b", "problem": "p", '
                    '"code": "c", "since": "2024-05-01T11:00:00Z", "cycles": 3, "message_ts": "1.0", "count": 1, '
                    '"session": {"transaction": 1, "box_id": "b", "connector": 1, "started": "2024-05-01T10:00:00Z",'
                    ' "energy_wh": 0}, "reason": "stalled", "flat_since": "2024-05-01T11:00:00Z", "stop_id": "s", '
                    '"confirmed": true, "period": "p", "cadence": "daily", "due_at": "2024-05-01T11:00:00Z", '
                    '"connector": 1, "notice": "slow", "detail": "d", "alert_channel": "C1", "action": "trigger", '
                    '"user": "U1", "until": "2024-05-02T09:00:00Z", "group": "S1", "rotation_channel": "C1", '
                    '"text": "t"}')


def test_every_kind_has_a_model_a_delivery_and_a_sender() -> None:
    assert set(JOB_MODELS) == set(KINDS) == set(JobKind)
    for kind, declared in KINDS.items():
        assert declared.model is JOB_MODELS[kind]
        assert declared.model.model_fields["kind"].default == kind
        assert issubclass(declared.sender, BaseSender)


def test_every_kind_is_ordered_as_before() -> None:
    assert {kind: model.delivery.order for kind, model in JOB_MODELS.items()} == ORDER_BEFORE


@pytest.mark.parametrize("kind", list(JobKind), ids=lambda k: k.value)
def test_every_kind_is_skipped_as_before(kind: JobKind) -> None:
    facts: dict[Skip, dict[str, bool]] = {Skip.UNWATCHED: {"watching": False}, Skip.HELD: {"held": True},
                                          Skip.NEVER_ALERTED: {"alert_posted": False},
                                          Skip.SETTLED: {"still_needed": False},
                                          Skip.GROUP_TARGET: {"target_is_person": False}}
    for why, fact in facts.items():
        expected = why if kind in SKIPPED_BEFORE[why] else None
        assert skip_reason(a_job(kind), now=NOW, **fact) is expected, (kind, why)  # type: ignore[arg-type]
    retried = a_job(kind, attempted=True)
    assert skip_reason(retried, now=NOW) is (Skip.DM_RETRY if kind in SKIPPED_BEFORE[Skip.DM_RETRY] else None)
    assert skip_reason(a_job(kind), now=NOW) is None
    assert skip_reason(a_job(kind), now=NOW + timedelta(hours=25)) is Skip.DEAD


def test_pages_retry_on_their_own_backoff_everything_else_on_slacks() -> None:
    assert {kind: model.delivery.retry for kind, model in JOB_MODELS.items()} == \
        {kind: PAGES if kind is JobKind.PAGE else SLACK for kind in JobKind}


def test_the_declarations_stay_out_of_the_stored_job() -> None:
    """Redis keeps the same JSON: the delivery is the model's, not a field of its jobs."""
    stored = AlertJob(id="alert:i:C1", channel="C1", created=NOW, incident_id="i", box_id="b").model_dump(mode="json")
    assert stored == {"id": "alert:i:C1", "channel": "C1", "created": "2024-05-01T12:00:00Z", "attempts": 0,
                      "attempted": False, "batches": [], "kind": "alert", "incident_id": "i", "box_id": "b"}


# --- the checks, on planted missing pieces ---------------------------------------------------------------------

def test_a_kind_without_a_model_fails() -> None:
    models = tuple(m for m in JOB_MODELS.values() if m is not DigestJob)
    with pytest.raises(TypeError, match="no job model in notify.Job for kind.s. digest"):
        _models_by_kind(models)


def test_a_model_without_a_delivery_fails() -> None:
    class Undeclared(_Job):
        kind: Literal[JobKind.DIGEST] = JobKind.DIGEST

    models = tuple(m for m in JOB_MODELS.values() if m is not DigestJob) + (Undeclared,)
    with pytest.raises(TypeError, match="Undeclared declares no `delivery"):
        _models_by_kind(models)


def test_a_delivery_without_an_order_or_a_skip_policy_fails() -> None:
    with pytest.raises(TypeError, match="order"):
        Delivery(skip=SkipWhen(), retry=SLACK)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="skip"):
        Delivery(order=1, retry=SLACK)  # type: ignore[call-arg]


def test_a_kind_without_a_sender_fails() -> None:
    with pytest.raises(TypeError, match="no sender for kind.s. digest: declare MessageKind"):
        register(*(d for d in KINDS.values() if d.kind is not JobKind.DIGEST))


def test_a_kind_declared_twice_or_with_a_planless_sender_fails() -> None:
    with pytest.raises(TypeError, match="declared twice"):
        register(*KINDS.values(), KINDS[JobKind.DIGEST])

    class Planless(BaseSender[DigestJob]):
        pass

    with pytest.raises(TypeError, match="Planless does not implement plan"):
        register(*(d for d in KINDS.values() if d.kind is not JobKind.DIGEST), MessageKind(DigestJob, Planless))


@pytest.fixture
def planted() -> Iterator[list[str]]:
    """Module names loaded from planted copies, removed again after the test."""
    names: list[str] = []
    yield names
    for name in names:
        sys.modules.pop(name, None)


def load_planted(planted: list[str], path: Path, old: str, new: str) -> None:
    """Import a copy of a thorbot module with `old` replaced: the check must fail the import itself."""
    source = path.read_text()
    assert source.count(old) == 1
    name = f"planted_{path.stem}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    planted.append(name)
    exec(compile(source.replace(old, new), str(path), "exec"), module.__dict__)


def test_importing_notify_with_a_kind_left_undeclared_fails(planted: list[str]) -> None:
    with pytest.raises(TypeError, match="DigestJob declares no `delivery"):
        load_planted(planted, PKG / "domain" / "notify.py",
                     "    delivery = Delivery(order=8, skip=SkipWhen(), retry=SLACK)\n", "")


def test_importing_the_registry_without_a_kind_fails(planted: list[str]) -> None:
    with pytest.raises(TypeError, match="no sender for kind.s. digest"):
        load_planted(planted, PKG / "worker" / "kinds.py", "    MessageKind(DigestJob, Digests),\n", "")


def test_the_planted_copy_of_the_registry_loads_unchanged(planted: list[str]) -> None:
    """The loader itself is sound: the copy with nothing removed imports (so the failures above are the check's)."""
    load_planted(planted, PKG / "worker" / "kinds.py", "    MessageKind(DigestJob, Digests),\n",
                 "    MessageKind(DigestJob, Digests),\n")
    assert set(sys.modules["planted_kinds"].KINDS) == set(JobKind)


async def test_the_worker_gets_each_kind_its_declared_sender(rig: AppRig) -> None:
    outbox = build_worker(rig.ctx, worker_id="w1").outbox
    assert set(outbox.senders) == set(JobKind)
    for kind, sender in outbox.senders.items():
        assert type(sender) is KINDS[kind].sender, kind
    # Two kinds sharing a sender class share one instance, as they did.
    assert outbox.senders[JobKind.THOR_DOWN] is outbox.senders[JobKind.THOR_UP]
