"""Every kind of message, declared once: its job model and its sender, paired here and checked at import.

A kind's job model (domain/notify.py) carries its fields, its `kind` (the discriminator stored in Redis)
and its `delivery`: the order among messages of the same moment in a channel, its skip policy and its retry
policy (domain/ holds them, so its rules stay pure and testable there). Its sender (worker/senders.py; pages,
handoffs, user groups and notices in worker/pages.py) says where it goes, what it says and when it is
skipped. `KINDS` pairs the two, one `MessageKind` per kind, and `senders` builds the outbox's table from it:
a kind without a sender fails the import, not every delivery tick after its first job is queued.
"""

from __future__ import annotations

import inspect
import random
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from thorbot.adapters.pager import PagerClient
from thorbot.adapters.secrets_box import SecretBox
from thorbot.domain.backoff import Random
from thorbot.domain.notify import (
    JOB_MODELS,
    AlertJob,
    CauseReminderJob,
    ConnectorNoticeJob,
    DigestJob,
    DriverReportJob,
    EscalateDmJob,
    EscalateJob,
    HandoffJob,
    Job,
    JobKind,
    NoticeJob,
    PageJob,
    PagerNoticeJob,
    RecoveryJob,
    StopOutcomeJob,
    StuckJob,
    ThorDownJob,
    ThorUpJob,
    UsergroupJob,
)
from thorbot.worker.outbox import SenderFor
from thorbot.worker.pages import Handoffs, Notices, PagerNotices, Pages, Usergroups, pager_senders
from thorbot.worker.senders import (
    Alerts,
    BaseSender,
    CauseReminders,
    ConnectorNotices,
    Digests,
    DriverReports,
    Escalations,
    Facts,
    Recoveries,
    StopOutcomes,
    StuckCharges,
    ThorNotices,
)

J = TypeVar("J", bound=Job)


@dataclass(frozen=True)
class MessageKind(Generic[J]):
    """One kind of message: its job model and the class that sends it. mypy checks that the sender takes that
    model (`MessageKind(AlertJob, Recoveries)` does not type-check)."""

    model: type[J]
    sender: type[BaseSender[J]]

    @property
    def kind(self) -> JobKind:
        return JobKind(self.model.model_fields["kind"].default)


def register(*declared: MessageKind[Any]) -> dict[JobKind, MessageKind[Any]]:
    """The registry, checked: exactly one declaration per JobKind, with the model notify.Job reads for that kind
    (itself checked there to declare its order, skip policy and retry policy) and a sender that can plan."""
    found: dict[JobKind, MessageKind[Any]] = {}
    for entry in declared:
        kind = entry.kind
        if kind in found:
            raise TypeError(f"kind {kind.value!r} is declared twice in worker/kinds.py")
        if JOB_MODELS[kind] is not entry.model:
            raise TypeError(f"kind {kind.value!r}: {entry.model.__name__} is not its model in notify.Job "
                            f"({JOB_MODELS[kind].__name__})")
        if inspect.isabstract(entry.sender):
            raise TypeError(f"kind {kind.value!r}: its sender {entry.sender.__name__} does not implement plan()")
        found[kind] = entry
    missing = [kind.value for kind in JobKind if kind not in found]
    if missing:
        raise TypeError(f"no sender for kind(s) {', '.join(missing)}: declare MessageKind(<its job model>, "
                        "<its sender>) in worker/kinds.py")
    return found


KINDS = register(
    MessageKind(ThorDownJob, ThorNotices),
    MessageKind(ThorUpJob, ThorNotices),
    MessageKind(AlertJob, Alerts),
    MessageKind(RecoveryJob, Recoveries),
    MessageKind(DriverReportJob, DriverReports),
    MessageKind(EscalateJob, Escalations),
    MessageKind(EscalateDmJob, Escalations),
    MessageKind(StuckJob, StuckCharges),
    MessageKind(ConnectorNoticeJob, ConnectorNotices),
    MessageKind(StopOutcomeJob, StopOutcomes),
    MessageKind(DigestJob, Digests),
    MessageKind(CauseReminderJob, CauseReminders),
    MessageKind(PageJob, Pages),
    MessageKind(PagerNoticeJob, PagerNotices),
    MessageKind(HandoffJob, Handoffs),
    MessageKind(UsergroupJob, Usergroups),
    MessageKind(NoticeJob, Notices),
)


def senders(facts: Facts, pager: PagerClient, secrets: SecretBox, rand: Random = random.random
            ) -> dict[JobKind, SenderFor[Any]]:
    """The outbox's table: each kind's declared sender, one instance per sender class (two kinds may share one).
    pages.py builds its own (they need the pager's client, the secrets and backoff's jitter `rand`); every other
    sender needs only the worker's facts."""
    built: dict[type[BaseSender[Any]], SenderFor[Any]] = {}
    given = pager_senders(facts, pager, secrets, rand)
    table: dict[JobKind, SenderFor[Any]] = {}
    for kind, declared in KINDS.items():
        if kind in given:
            if not isinstance(given[kind], declared.sender):
                raise TypeError(f"kind {kind.value!r}: pager_senders gives a {type(given[kind]).__name__}, "
                                f"worker/kinds.py declares {declared.sender.__name__}")
            table[kind] = given[kind]
            continue
        if declared.sender not in built:
            built[declared.sender] = declared.sender(facts)
        table[kind] = built[declared.sender]
    return table
