"""The pager kinds thorbot can page, one transport each, registered once here by their kind's name. Pure.

The form (serve/pager.py), the worker (worker/pages.py) and `thorbot doctor` (cli/doctor.py) look a kind up
here and never name one: a new kind is a module beside pagerduty.py and one `register` line below
(docs/architecture.md, "A new pager kind"). The order of registration is the order of the form's menu, the
first its default. A link whose kind is registered no more is refused where it is used, with why.
"""

from __future__ import annotations

from thorbot.domain.pagers.base import Connection, Page, PagerRequest, PagerTransport
from thorbot.domain.pagers.pagerduty import PagerDutyTransport
from thorbot.domain.pagers.webhook import WebhookTransport

__all__ = ["Connection", "Page", "PagerRequest", "PagerTransport", "register", "transport_of", "transports",
           "unregister"]

_REGISTRY: dict[str, PagerTransport] = {}


def register(transport: PagerTransport) -> None:
    """Add a kind. Its name must be new: a second transport under a stored kind would read others' links."""
    if transport.kind in _REGISTRY:
        raise ValueError(f"a pager kind named {transport.kind!r} is registered already")
    _REGISTRY[transport.kind] = transport


def unregister(kind: str) -> None:
    """Remove a kind (tests that register one of their own take it away again)."""
    _REGISTRY.pop(kind, None)


def transport_of(kind: str) -> PagerTransport | None:
    """The transport of a stored link's or a form's kind; None when no kind has that name."""
    return _REGISTRY.get(kind)


def transports() -> list[PagerTransport]:
    """Every kind, in the order they were registered (the form's menu)."""
    return list(_REGISTRY.values())


register(PagerDutyTransport())
register(WebhookTransport())
