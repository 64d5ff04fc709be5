"""The report's arithmetic in columns: a chunk of boxes at once, as arrays, not one box and one span at a time.

`ReportBuilder.add(box_history(...))` (domain/uptime.py) is the reference: plain Python, one box at a time,
a few hundred small calls per box. A twelve-month report over 10,000 boxes spent seconds there. Here the
same rules (merge, causes and the yearly maintenance cap, hours of operation, ports' own incidents, unknown
time, NEVI's formula per box, month and port) run over every outage of a chunk of boxes in a few dozen numpy
calls: each span is a row (unit, start, end), a unit being a box or a port with incidents of its own.

Times are whole microseconds in int64, so every sum is exact whatever its order: the figures are the plain
path's to the bit wherever the plain path's own float sums are exact (history is kept in whole seconds;
tests/domain/test_uptime_columns.py compares the two on random fleets). A chunk this layout cannot hold (a
time range too wide for the unit offsets, an open outage given a cause) is measured by the plain path.
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import chain, repeat
from typing import TYPE_CHECKING, NamedTuple
from weakref import WeakKeyDictionary

import numpy as np
import numpy.typing as npt

from thorbot.domain.causes import CAUSES, MAINTENANCE_CAP, VANDALISM_CAP
from thorbot.domain.uptime import (
    INF,
    BoxInput,
    BoxReport,
    PortReport,
    Seconds,
    Sessions,
    Uptime,
    box_history,
)

if TYPE_CHECKING:
    from thorbot.domain.uptime import ReportBuilder

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
US = 1_000_000
NO_CAUSE, PLANNED, EXCUSED, VANDAL = 0, 1, 2, 3
LIMIT = 1 << 62  # unit × offset + time must stay below this (int64)
PORTS = 1 << 20  # a port number is below this (else: the plain path)


def _class_of(cause: str | None) -> int:
    if cause is None:
        return NO_CAUSE
    if cause == "scheduled_maintenance":
        return PLANNED
    if not CAUSES.get(cause, CAUSES["unknown"]).excluded:
        return NO_CAUSE
    return VANDAL if cause == "vandalism" else EXCUSED


class _Classes(dict[str, int]):
    def __missing__(self, cause: str) -> int:
        return NO_CAUSE  # a cause this version does not know: unknown, not excluded


CLASS_OF = _Classes({c: _class_of(c) for c in CAUSES})


class Spans(NamedTuple):
    """Rows of spans: the unit each belongs to, [a, b) in microseconds. Sorted by (unit, a) and disjoint per
    unit when they come out of `_Layout.merge` or `_Layout.intersect`."""

    u: Ints
    a: Ints
    b: Ints


def _ints(values: list[int]) -> Ints:
    return np.array(values, dtype=np.int64)


EMPTY = Spans(_ints([]), _ints([]), _ints([]))


def _cat(*parts: Spans) -> Spans:
    return Spans(np.concatenate([p.u for p in parts]), np.concatenate([p.a for p in parts]),
                 np.concatenate([p.b for p in parts]))


def _take(s: Spans, which: npt.NDArray[np.bool_] | Ints) -> Spans:
    return Spans(s.u[which], s.a[which], s.b[which])


class _Layout:
    """How a (unit, time) pair becomes one sortable int64: unit × `step` + time − `base`."""

    def __init__(self, base: int, step: int) -> None:
        self.base, self.step, self.shift = base, step, step.bit_length() - 1  # step: a power of two

    def key(self, u: Ints, t: Ints) -> Ints:
        return u * self.step + (t - self.base)

    def split(self, keys: Ints) -> tuple[Ints, Ints]:
        """`key`'s inverse: (unit, time)."""
        return keys >> self.shift, (keys & (self.step - 1)) + self.base

    def merge(self, s: Spans) -> Spans:
        """Each unit's spans sorted, touching and overlapping ones joined (uptime.merge_seconds)."""
        s = _take(s, s.b > s.a)
        if not len(s.u):
            return EMPTY
        order = np.argsort(self.key(s.u, s.a), kind="stable")  # spans starting together merge whatever their order
        u, a, b = s.u[order], s.a[order], s.b[order]
        reach = np.maximum.accumulate(self.key(u, b))
        new = np.empty(len(u), dtype=bool)
        new[0] = True
        new[1:] = self.key(u[1:], a[1:]) > reach[:-1]
        first = np.flatnonzero(new)
        return Spans(u[first], a[first], np.maximum.reduceat(b, first))

    def intersect(self, x: Spans, y: Spans) -> Spans:
        """Per unit, the parts covered by both (each side sorted and disjoint)."""
        if not len(x.u) or not len(y.u):
            return EMPTY
        # One sortable number per boundary: (unit, time, start?) — at one instant an end sorts before a start, so
        # spans that only touch do not overlap.
        starts = self.key(np.concatenate([x.u, y.u]), np.concatenate([x.a, y.a])) * 2 + 1
        ends = self.key(np.concatenate([x.u, y.u]), np.concatenate([x.b, y.b])) * 2
        events = np.sort(np.concatenate([starts, ends]), kind="stable")
        delta = (events & 1) * 2 - 1
        u, t = self.split(events >> 1)
        both = np.flatnonzero(np.cumsum(delta)[:-1] == 2)
        out = Spans(u[both], t[both], t[both + 1])
        return _take(out, out.b > out.a)

    def covered(self, s: Spans, u: Ints, t: Ints) -> Ints:
        """For each query (unit u, time t): how much of that unit's spans (sorted, disjoint) lies before t."""
        if not len(s.u):
            return np.zeros(len(u), np.int64)
        lengths = s.b - s.a
        before = np.concatenate([[0], np.cumsum(lengths)])
        q = self.key(u, t)
        i = np.searchsorted(self.key(s.u, s.b), q, side="right")  # spans of this unit (and lower) ended by t
        first = np.searchsorted(s.u, u, side="left")  # this unit's first span
        total = before[i] - before[first]
        inside = i < len(s.u)
        j = np.minimum(i, len(s.u) - 1)
        partial = np.where(inside & (s.u[j] == u) & (s.a[j] < t), t - s.a[j], 0)
        return np.asarray(total + partial, dtype=np.int64)


def _sum_by(u: Ints, values: Ints, units: int) -> Ints:
    # Sums of whole microseconds below 2**53 are exact in float64 (285 years a unit).
    return np.bincount(u, weights=values.astype(np.float64), minlength=units).astype(np.int64)


def _clip(s: Spans, lo: Ints, hi: Ints) -> Spans:
    keep = (s.b > lo[s.u]) & (s.a < hi[s.u])
    s = _take(s, keep)
    return Spans(s.u, np.maximum(s.a, lo[s.u]), np.minimum(s.b, hi[s.u]))


def _years(lo: int, hi: int) -> Ints:
    """Every UTC new year's midnight from before `lo` to after `hi`, in microseconds."""
    first = datetime.fromtimestamp(lo / US, tz=UTC).year
    last = datetime.fromtimestamp(min(hi, 253370764800 * US) / US, tz=UTC).year + 1
    return _ints([int(datetime(y, 1, 1, tzinfo=UTC).timestamp()) * US for y in range(first, last + 1)])


def _capped(layout: _Layout, s: Spans, cap: int, years: Ints, units: int) -> tuple[Spans, Ints]:
    """uptime._capped_per_year in columns: each unit keeps at most `cap` a calendar year, in time order; and
    what it cut."""
    if not len(s.u):
        return EMPTY, np.zeros(units, np.int64)
    ya = np.searchsorted(years, s.a, side="right") - 1
    yb = np.searchsorted(years, s.b, side="left") - 1  # the year holding the span's last instant
    pieces = yb - ya + 1
    row = np.repeat(np.arange(len(s.u)), pieces)
    year = ya[row] + (np.arange(len(row)) - np.repeat(np.cumsum(pieces) - pieces, pieces))
    u = s.u[row]
    a = np.maximum(s.a[row], years[year])
    b = np.minimum(s.b[row], years[year + 1])
    length = b - a
    # Greedy in time order within (unit, year): what is kept is min(cap, all so far) less that before.
    group = u * len(years) + year
    run = np.cumsum(length)
    start = np.empty(len(u), dtype=bool)
    start[0] = True
    start[1:] = group[1:] != group[:-1]
    base = np.maximum.accumulate(np.where(start, run - length, 0))
    so_far = run - base
    take = np.minimum(so_far, cap) - np.minimum(so_far - length, cap)
    over = _sum_by(u, length - take, units)
    kept = take > 0
    return Spans(u[kept], a[kept], a[kept] + take[kept]), over


@dataclass
class ChunkColumns:
    """A chunk of boxes' history as read: per box its name, first sighting, port count, maintenance windows,
    closed hours and causes; every outage of every box as one row (`box`: its index here; `port`: 0 for the
    box's connectivity, else the connector whose own incident it is; `start`, `end` in epoch seconds, an open
    one ending at INF)."""

    box_ids: list[str]
    names: list[str]
    first_seen: list[float | None]
    ports: list[int]
    maintenance: list[list[Seconds]]
    closed: list[list[Seconds]]
    causes: list[dict[int, str]]
    port_causes: list[dict[int, str]]
    box: Ints
    port: Ints
    start: Floats
    end: Floats
    # The causes as columns, when read that way (`cause_rows`): then `causes` and `port_causes` are empty, and
    # `cause_lines` (each box's lines as read) gives them to the plain path.
    given: CauseRows | None = None
    cause_lines: list[str] | None = None
    cause_connectivity: frozenset[str] = frozenset()  # with `cause_lines`: the kind codes of a box's connectivity

    @classmethod
    def of(cls, boxes: Sequence[BoxInput]) -> ChunkColumns:
        box: list[int] = []
        port: list[int] = []
        spans: list[Seconds] = []
        for i, b in enumerate(boxes):
            box += [i] * len(b.outages)
            port += [0] * len(b.outages)
            spans += b.outages
            for p, own in b.port_outages.items():
                box += [i] * len(own)
                port += [p] * len(own)
                spans += own
        ab = np.array(spans, dtype=np.float64).reshape(len(spans), 2)
        return cls([b.box_id for b in boxes], [b.name for b in boxes], [b.first_seen for b in boxes],
                   [b.ports for b in boxes], [b.maintenance for b in boxes], [b.closed for b in boxes],
                   [dict(b.causes or {}) for b in boxes], [dict(b.port_causes or {}) for b in boxes],
                   _ints(box), _ints(port), ab[:, 0].copy(), ab[:, 1].copy())

    def boxes(self) -> list[BoxInput]:
        """The same history box by box, as the plain path reads it."""
        outages: list[list[Seconds]] = [[] for _ in self.box_ids]
        own: list[dict[int, list[Seconds]]] = [{} for _ in self.box_ids]
        for b, p, a, e in zip(self.box.tolist(), self.port.tolist(), self.start.tolist(), self.end.tolist(),
                              strict=True):
            if p:
                own[b].setdefault(p, []).append((a, e))
            else:
                outages[b].append((a, e))
        causes, port_causes = self.cause_dicts()
        return [BoxInput(box_id, self.names[i], self.first_seen[i], outages[i], own[i], self.ports[i],
                         self.maintenance[i], self.closed[i], causes[i], port_causes[i])
                for i, box_id in enumerate(self.box_ids)]

    def cause_dicts(self) -> tuple[list[dict[int, str]], list[dict[int, str]]]:
        """Each box's causes by outage start (its connectivity's, its ports'), as the plain path reads them."""
        if self.cause_lines is None:
            return self.causes, self.port_causes
        box_causes: list[dict[int, str]] = [{} for _ in self.box_ids]
        port_causes: list[dict[int, str]] = [{} for _ in self.box_ids]
        for i, lines in enumerate(self.cause_lines):
            for line in lines.splitlines():
                kind, _, rest = line.partition("|")
                began, _, cause = rest.partition("|")
                if began.isdigit():
                    (box_causes if kind in self.cause_connectivity else port_causes)[i][int(began)] = cause
        return box_causes, port_causes


    def with_open(self, opened: Sequence[tuple[int, int, float]]) -> ChunkColumns:
        """The same with open incidents added: (box, port, start), each ending at INF."""
        if not opened:
            return self
        extra = np.array(opened, dtype=np.float64).reshape(len(opened), 3)
        return replace(self, box=np.concatenate([self.box, extra[:, 0].astype(np.int64)]),
                       port=np.concatenate([self.port, extra[:, 1].astype(np.int64)]),
                       start=np.concatenate([self.start, extra[:, 2]]),
                       end=np.concatenate([self.end, np.full(len(opened), INF)]))


Rows = tuple[Ints, Ints, Floats, Floats]  # box, port, start, end


class CauseRows(NamedTuple):
    """A chunk's causes as columns: the box (its index in the chunk), 1 when it is its ports' (0: its
    connectivity's), the second its outage started, and the cause's class."""

    box: Ints
    port: Ints
    start: Ints
    cls: Ints


CAUSE_LINES = re.compile(r"(?:[a-z]\|\d+\|\d\n)*", re.ASCII)


def cause_rows(lines: Sequence[str], connectivity: Collection[str]) -> CauseRows | None:
    """Each box's causes, `kind|start|cause` a line (history_store reads them so), as columns; None when a line is
    not of that shape or names a cause this version does not know (the caller then parses them one by one).
    A cause given twice to one source's outage start keeps the later one, as a dict would."""
    letters = string.ascii_lowercase
    kinds = str.maketrans(letters, "".join("0" if c in connectivity else "1" for c in letters))
    text = "".join(lines)
    for cause, cls in CLASS_OF.items():
        text = text.replace(f"|{cause}\n", f"|{cls}\n")
    if not CAUSE_LINES.fullmatch(text):
        return None
    flat = _whole_numbers(text.translate(kinds).replace("|", " ").replace("\n", " "))
    count = text.count("\n")
    if flat is None or len(flat) != 3 * count:
        return None
    table = flat.reshape(count, 3).astype(np.int64)[::-1]  # the later of two equal keys first (see _classes)
    box = np.repeat(np.arange(len(lines), dtype=np.int64), [x.count("\n") for x in lines])[::-1]
    return CauseRows(box.copy(), table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy())


PIECE = 50  # boxes' history parsed at once
MEMBERS = re.compile(r"(?:[a-z]\|\d*\|\d+\|\d+\n)*", re.ASCII)  # history's members as thorbot writes them, a line each


def history_rows(joined: Sequence[str], connectivity: Collection[str], ports: Collection[str]) -> Rows | None:
    """Each box's history members (`kind|connector|start|end`, history_store), a line each, as rows: its
    connectivity outages (port 0) and its ports' own incidents (a connector named); other kinds left out. None
    when a member is not of thorbot's shape (the caller parses those one by one, as the plain path does). Whole
    strings, never a member at a time: a kind becomes a digit (1: the box's, 2: a port's, 0: neither), and
    numpy reads the numbers."""
    letters = string.ascii_lowercase
    kinds = str.maketrans(letters, "".join("1" if c in connectivity else "2" if c in ports else "0" for c in letters))
    parts = []
    for first in range(0, len(joined), PIECE):  # a piece at a time: numpy's temporaries stay small
        text = "".join(joined[first:first + PIECE])
        if not MEMBERS.fullmatch(text):
            return None
        flat = _whole_numbers(text.translate(kinds).replace("||", "|0|").replace("|", " ").replace("\n", " "))
        if flat is None or len(flat) != 4 * text.count("\n"):
            return None
        parts.append(flat)
    counts = [part.count("\n") for part in joined]
    table = np.concatenate([np.zeros(0), *parts]).reshape(sum(counts), 4)
    kind, connector = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
    keep = (kind == 1) | ((kind == 2) & (connector != 0))
    box = np.repeat(np.arange(len(joined), dtype=np.int64), counts)
    return box[keep], np.where(kind == 1, 0, connector)[keep], table[keep, 2], table[keep, 3]


def _whole_numbers(text: str) -> Floats | None:
    """The numbers in `text` (digits, separated by single spaces) as floats, read as `float` reads each: from the
    bytes at once, each digit times its power of ten. None past 15 digits (where an int64 sum could round)."""
    if not text:
        return np.zeros(0)
    raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    digit = raw != ord(" ")
    edges = np.flatnonzero(np.diff(np.concatenate([[False], digit, [False]]).astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    if not len(starts) or int((ends - starts).max()) > 15:
        return None
    where = np.flatnonzero(digit)
    token = np.repeat(np.arange(len(starts)), ends - starts)
    power = (10 ** np.arange(16, dtype=np.int64))[ends[token] - 1 - where]
    lengths = ends - starts
    values = np.add.reduceat((raw[where].astype(np.int64) - ord("0")) * power, np.cumsum(lengths) - lengths)
    return np.asarray(values, dtype=np.float64)


def rows_of(parsed: Sequence[Sequence[tuple[str, int | None, float, float]]], connectivity: Collection[str]) -> Rows:
    """`history_rows` from members parsed one by one: (kind code, connector, start, end) per box."""
    box = [i for i, rows in enumerate(parsed) for _ in rows]
    port = [0 if code in connectivity else (connector or 0) for rows in parsed for code, connector, _, _ in rows]
    ab = np.array([(a, b) for rows in parsed for _, _, a, b in rows], dtype=np.float64).reshape(len(box), 2)
    return _ints(box), _ints(port), ab[:, 0].copy(), ab[:, 1].copy()


def _spans_of(units: list[int], lists: list[list[Seconds]]) -> tuple[Ints, Floats]:
    counts = [len(x) for x in lists]
    total = sum(counts)
    flat = np.fromiter(chain.from_iterable(chain.from_iterable(lists)), np.float64, count=2 * total)
    return np.repeat(_ints(units), counts), flat.reshape(total, 2)


def _ranges(first: Ints, count: Ints) -> Ints:
    """The indices first[k] … first[k] + count[k] − 1, for every k, in order."""
    total = int(count.sum())
    if not total:
        return _ints([])
    offsets = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    return np.asarray(np.repeat(first, count) + offsets, dtype=np.int64)


def _micro(values: Floats, sentinel: int) -> Ints:
    finite = np.isfinite(values)
    out = np.full(len(values), sentinel, dtype=np.int64)
    out[finite] = np.rint(values[finite] * US).astype(np.int64)
    return out


def add_columns(builder: ReportBuilder, chunk: ChunkColumns, sessions: Mapping[str, Sessions]) -> None:
    """`builder.add(box_history(*box), sessions.get(box.box_id))` for each box of the chunk in order, measured at
    once (`ChunkColumns.of(boxes)` makes a chunk of plain inputs)."""
    if not measure_chunk(builder, chunk, sessions):
        for box in chunk.boxes():
            builder.add(box_history(*box), sessions.get(box.box_id))


def measure_chunk(builder: ReportBuilder, chunk: ChunkColumns, sessions: Mapping[str, Sessions]) -> bool:
    """The columns' path; False (having changed nothing) when this chunk is the plain path's to measure."""
    window = builder.period.window
    now_s = builder.now.timestamp()
    w_lo, w_hi = window.start.timestamp(), window.end.timestamp()
    kept = [i for i, first in enumerate(chunk.first_seen)
            if first is not None and min(w_hi, now_s) > max(w_lo, first)]
    if not kept:
        return True  # none measured in this period: the plain path adds nothing for them either
    laid = _lay_out(builder, chunk, kept)
    if laid is None:
        return False
    # Each phase in a function of its own: its intermediate arrays are freed when it returns (a chunk's peak).
    down, excluded, over = _exclusions(laid)
    figures, open_now, spans = _measure(builder, laid, down, excluded)
    step_pct, measured_steps = _steps(builder, laid, *spans)
    _add_rows(builder, chunk, sessions, laid, figures, (over / US).tolist(), open_now, step_pct, measured_steps)
    return True


class _Laid(NamedTuple):
    """A chunk laid out in units: the kept boxes (unit = the box's index among them), then the ports with
    incidents of their own; every outage row of each unit with its cause class, its maintenance and closed
    hours; the time layout."""

    kept: list[int]
    boxes_n: int
    units: int
    unit_box: Ints
    unit_port: Ints
    layout: _Layout
    sentinel: int
    rows: Spans
    cls: Ints
    maint: Spans
    closed: Spans
    years: Ints
    lo: Ints  # each unit's measured [lo, hi)
    hi: Ints
    now_us: int


def _lay_out(builder: ReportBuilder, chunk: ChunkColumns, kept: list[int]) -> _Laid | None:
    window = builder.period.window
    now_s = builder.now.timestamp()
    w_lo, w_hi = window.start.timestamp(), window.end.timestamp()
    # Units: the kept boxes first (unit = the box's index among them), then their ports with incidents of their
    # own. A span's source says whose causes apply to it: 2 × box (the box's) or 2 × box + 1 (its ports').
    if len(chunk.port) and not 0 <= int(chunk.port.max()) < PORTS:
        return None
    rank = np.full(len(chunk.box_ids), -1, dtype=np.int64)
    rank[kept] = np.arange(len(kept))
    row_box = rank[chunk.box]
    live = row_box >= 0
    conn = live & (chunk.port == 0)
    own = live & (chunk.port > 0)
    pairs = np.unique(row_box[own] * PORTS + chunk.port[own])  # (box, port) of each port unit, in order
    boxes_n, units = len(kept), len(kept) + len(pairs)
    unit_box = np.concatenate([np.arange(boxes_n, dtype=np.int64), pairs // PORTS])
    unit_port = np.concatenate([np.zeros(boxes_n, np.int64), pairs % PORTS])
    # The box's connectivity rows, once for the box and once more for each of its ports with own incidents.
    order = np.argsort(row_box[conn], kind="stable")
    conn_rows = np.flatnonzero(conn)[order]
    per_box = np.bincount(row_box[conn], minlength=boxes_n)
    first_row = np.cumsum(per_box) - per_box
    port_box = unit_box[boxes_n:]
    copies = _ranges(first_row[port_box], per_box[port_box])
    own_rows = np.flatnonzero(own)
    own_unit = boxes_n + np.searchsorted(pairs, row_box[own_rows] * PORTS + chunk.port[own_rows])
    index = np.concatenate([conn_rows, conn_rows[copies], own_rows])
    o_u = np.concatenate([row_box[conn_rows], np.repeat(np.arange(boxes_n, units, dtype=np.int64),
                                                        per_box[port_box]), own_unit])
    o_src = 2 * unit_box[o_u] + (chunk.port[index] > 0)
    o_a, o_b = chunk.start[index], chunk.end[index]
    given = _given(chunk, kept, rank)
    every = unit_box.tolist()
    m_u, m_ab = _spans_of(list(range(units)), [chunk.maintenance[kept[b]] for b in every])
    c_u, c_ab = _spans_of(list(range(units)), [chunk.closed[kept[b]] for b in every])
    blind_s = builder.blind
    bounds = builder.bounds
    extra = [x for s in (*blind_s, *bounds) for x in s] + [now_s, w_lo, w_hi] + \
        [chunk.first_seen[i] or 0.0 for i in kept]
    values = np.concatenate([o_a, o_b, m_ab.ravel(), c_ab.ravel(), np.array(extra, dtype=np.float64)])
    values = values[np.isfinite(values)]
    lo_all, hi_all = int(values.min() * US) - US, int(values.max() * US) + 2 * US
    if lo_all < 0:
        return None
    sentinel = hi_all  # an open outage ends after everything else
    step = 1 << max(1, (hi_all - lo_all + 1).bit_length())
    if 2 * units * step >= LIMIT:
        return None
    layout = _Layout(lo_all, step)
    rows = Spans(o_u, _micro(o_a, sentinel), _micro(o_b, sentinel))
    cls = _classes(o_src, o_a, given)
    if bool(np.any((cls != NO_CAUSE) & (rows.b == sentinel))):
        return None  # an open outage with a cause: the plain path's (its cap has no end to count to)
    maint = Spans(m_u, _micro(m_ab[:, 0], sentinel), _micro(m_ab[:, 1], sentinel))
    closed = Spans(c_u, _micro(c_ab[:, 0], sentinel), _micro(c_ab[:, 1], sentinel))

    first = np.array([chunk.first_seen[i] for i in kept], dtype=np.float64)
    lo_box = np.maximum(np.rint(first * US).astype(np.int64), int(round(w_lo * US)))
    now_us = int(round(now_s * US))
    hi_box = np.full(len(kept), min(int(round(w_hi * US)), now_us), dtype=np.int64)
    return _Laid(kept, boxes_n, units, unit_box, unit_port, layout, sentinel, rows, cls, maint, closed,
                 _years(lo_all, hi_all), lo_box[unit_box], hi_box[unit_box], now_us)


def _exclusions(laid: _Laid) -> tuple[Spans, Spans, Ints]:
    """Each unit's outages merged, the spans whose outage time is excluded, and the maintenance over the cap
    (uptime.box_history and uptime.exclusions)."""
    layout, rows, cls, units = laid.layout, laid.rows, laid.cls, laid.units
    down = layout.merge(rows)
    has_down = np.zeros(units, dtype=bool)
    has_down[down.u] = True
    planned_rows = _take(rows, cls == PLANNED)
    planned = layout.merge(_cat(laid.maint, planned_rows))
    kept_spans, over = _capped(layout, layout.intersect(down, planned), int(MAINTENANCE_CAP.total_seconds()) * US,
                               laid.years, units)
    vandal = int(VANDALISM_CAP.total_seconds()) * US
    excused = _take(rows, cls >= EXCUSED)
    excused = Spans(excused.u, excused.a,
                    np.where(cls[cls >= EXCUSED] == VANDAL, np.minimum(excused.b, excused.a + vandal), excused.b))
    excluded = layout.merge(_cat(excused, kept_spans, laid.closed))
    excluded = _take(excluded, has_down[excluded.u])
    over = np.where(has_down, over, 0)

    return down, excluded, over


Figures = list[list[int]]


def _measure(builder: ReportBuilder, laid: _Laid, down: Spans, excluded: Spans,
             ) -> tuple[Figures, Ints, tuple[Spans, Spans, Spans]]:
    """Each unit's Uptime figures over the whole window (uptime._BoxMeasure and uptime._whole), whether its
    box is down now, and the spans the steps are measured on (unknown, down, excluded)."""
    layout, units, lo, hi, now_us, sentinel = laid.layout, laid.units, laid.lo, laid.hi, laid.now_us, laid.sentinel
    blind_s = builder.blind
    blind_ab = np.array(blind_s, dtype=np.float64).reshape(len(blind_s), 2)
    blind = Spans(np.zeros(len(blind_s), np.int64), _micro(blind_ab[:, 0], sentinel),
                  _micro(blind_ab[:, 1], sentinel))
    # The fleet's unknown time as each unit's own spans (few: a span per gap in observing).
    n_blind = len(blind.u)
    blind_units = Spans(np.repeat(np.arange(units, dtype=np.int64), n_blind), np.tile(blind.a, units),
                        np.tile(blind.b, units))
    seen_blind = _clip(blind_units, lo, hi)
    blind_total = _sum_by(seen_blind.u, seen_blind.b - seen_blind.a, units)
    capped = Spans(down.u, down.a, np.minimum(down.b, now_us))
    overlapping = (capped.b > lo[capped.u]) & (capped.a < hi[capped.u])
    incidents = _take(capped, overlapping)
    down_in = _clip(incidents, lo, hi)
    if n_blind:
        down_in = layout.intersect(down_in, _gaps(layout, seen_blind, lo, hi, units))
    excluded_in = layout.intersect(down_in, _clip(excluded, lo, hi))
    outage = _sum_by(down_in.u, down_in.b - down_in.a, units)
    excluded_total = _sum_by(excluded_in.u, excluded_in.b - excluded_in.a, units)
    count = np.bincount(incidents.u, minlength=units)
    longest = np.zeros(units, np.int64)
    if len(incidents.u):
        clipped = np.minimum(incidents.b, hi[incidents.u]) - np.maximum(incidents.a, lo[incidents.u])
        starts = np.flatnonzero(np.concatenate([[True], incidents.u[1:] != incidents.u[:-1]]))
        longest[incidents.u[starts]] = np.maximum.reduceat(clipped, starts)
    finished = _take(capped, (down.b != sentinel) & (capped.b >= lo[capped.u]) & (capped.b <= hi[capped.u]))
    repaired = np.bincount(finished.u, minlength=units)
    not_counted = layout.merge(_cat(excluded, blind_units))
    cut = layout.intersect(finished, not_counted)
    repair = _sum_by(finished.u, finished.b - finished.a, units) - _sum_by(cut.u, cut.b - cut.a, units)

    open_now = np.zeros(units, dtype=bool)
    open_now[down.u[down.b == sentinel]] = True
    figures = np.stack([hi - lo - blind_total, outage, excluded_total, blind_total, count, longest, repaired,
                        repair]).T.tolist()
    return figures, open_now, (seen_blind, down_in, excluded_in)


def _steps(builder: ReportBuilder, laid: _Laid, seen_blind: Spans, down_in: Spans, excluded_in: Spans,
           ) -> tuple[list[list[float | None]], npt.NDArray[np.bool_]]:
    """Each box's uptime % in each step (None: not measured), added to the fleet's sums."""
    layout, boxes_n, bounds = laid.layout, laid.boxes_n, builder.bounds
    lo_box, hi_box = laid.lo[:boxes_n], laid.hi[:boxes_n]
    box_units = np.arange(boxes_n, dtype=np.int64)
    step_lo = _ints([int(round(a * US)) for a, _ in bounds])
    step_hi = _ints([int(round(b * US)) for _, b in bounds])
    qu = np.repeat(box_units, len(bounds))
    qlo = np.maximum(np.tile(step_lo, boxes_n), lo_box[qu])
    qhi = np.minimum(np.tile(step_hi, boxes_n), hi_box[qu])
    empty = qhi <= qlo
    qhi = np.where(empty, qlo, qhi)
    step_measured = qhi - qlo - (layout.covered(seen_blind, qu, qhi) - layout.covered(seen_blind, qu, qlo))
    step_down = (layout.covered(down_in, qu, qhi) - layout.covered(down_in, qu, qlo)
                 - (layout.covered(excluded_in, qu, qhi) - layout.covered(excluded_in, qu, qlo)))
    step_m = np.where(empty, 0.0, step_measured / US).reshape(boxes_n, len(bounds))
    step_d = np.where(empty, 0.0, step_down / US).reshape(boxes_n, len(bounds))
    # NEVI's formula as uptime.percent computes it (the same IEEE operations, so the same figures); the fleet's
    # sums in box order, as ReportBuilder.add adds them (cumsum adds one after another).
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.maximum(0.0, np.minimum(100.0, (step_m - step_d) / step_m * 100))
    step_pct: list[list[float | None]] = np.where(step_m > 0, share, np.nan).tolist()
    measured_steps = step_m > 0
    builder.step_measured = np.cumsum(np.vstack([builder.step_measured, step_m]), axis=0)[-1].tolist()
    builder.step_down = np.cumsum(np.vstack([builder.step_down, step_d]), axis=0)[-1].tolist()

    return step_pct, measured_steps


def _add_rows(builder: ReportBuilder, chunk: ChunkColumns, sessions: Mapping[str, Sessions], laid: _Laid,
              figures: Figures, over_s: list[float], open_now: Ints, step_pct: list[list[float | None]],
              measured_steps: npt.NDArray[np.bool_]) -> None:
    kept, boxes_n, units = laid.kept, laid.boxes_n, laid.units
    every, unit_port = laid.unit_box.tolist(), laid.unit_port.tolist()
    durations = _DURATIONS.setdefault(builder, _Durations())
    uptimes = [_build(durations, *row) for row in figures]
    ports_of: dict[int, dict[int, Uptime]] = {}
    for unit in range(boxes_n, units):
        ports_of.setdefault(every[unit], {})[unit_port[unit]] = uptimes[unit]
    top = np.zeros(len(chunk.box_ids), np.int64)
    np.maximum.at(top, chunk.box[chunk.port != 0], chunk.port[chunk.port != 0])
    top_ports = top.tolist()
    for b, i in enumerate(kept):
        whole = uptimes[b]
        first_seen = chunk.first_seen[i]
        assert first_seen is not None
        builder.first_seen = min(builder.first_seen or first_seen, first_seen)
        steps = step_pct[b]
        if not measured_steps[b].all():
            steps = [p if m else None for p, m in zip(steps, measured_steps[b].tolist(), strict=True)]
        box_sessions = sessions.get(chunk.box_ids[i])
        if box_sessions is not None and builder.sessions is not None:
            builder.sessions = builder.sessions + box_sessions
        own_ports = ports_of.get(b, {})
        ports = tuple(PortReport(p, own_ports.get(p, whole))
                      for p in range(1, max(chunk.ports[i], top_ports[i], 1) + 1))
        builder.rows.append(BoxReport(chunk.box_ids[i], chunk.names[i], whole, tuple(steps), box_sessions,
                                      bool(open_now[b]), ports, over_s[b]))


class _Given(NamedTuple):
    """The causes given in a chunk: whose (source), the second their outage started, and their class."""

    sources: Ints
    starts: Ints
    classes: Ints


def _given(chunk: ChunkColumns, kept: list[int], rank: Ints) -> _Given:
    """The kept boxes' causes, each under its source (2 × the box's rank: its connectivity; + 1: its ports)."""
    if chunk.given is not None:
        rows = chunk.given
        live = rank[rows.box] >= 0
        return _Given(2 * rank[rows.box[live]] + rows.port[live], rows.start[live], rows.cls[live])
    sources: list[int] = []
    starts: list[int] = []
    classes: list[int] = []
    box_causes, port_causes = chunk.cause_dicts()
    for b, i in enumerate(kept):
        for source, causes in ((2 * b, box_causes[i]), (2 * b + 1, port_causes[i])):
            if causes:
                sources.extend(repeat(source, len(causes)))
                starts.extend(causes.keys())
                classes.extend(map(CLASS_OF.__getitem__, causes.values()))
    return _Given(_ints(sources), _ints(starts), _ints(classes))


def _classes(sources: Ints, starts: Floats, given: _Given) -> Ints:
    """Each outage's cause class: the cause given to its source's outage starting at that second (`int(start)`,
    as the plain path looks it up)."""
    out = np.zeros(len(sources), np.int64)
    if not len(given.sources) or not len(sources):
        return out
    g_sources, g_starts, g_classes = given
    seconds = np.trunc(starts).astype(np.int64)
    base = min(int(seconds.min()), int(g_starts.min()))
    wide = 1 << max(1, (max(int(seconds.max()), int(g_starts.max())) - base + 1).bit_length())
    keys = g_sources * wide + (g_starts - base)
    order = np.argsort(keys, kind="stable")
    keys, classes = keys[order], g_classes[order]
    wanted = sources * wide + (seconds - base)
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, classes[at], NO_CAUSE)


def _gaps(layout: _Layout, blind: Spans, lo: Ints, hi: Ints, units: int) -> Spans:
    """Each unit's [lo, hi) less its unknown spans (sorted, disjoint, inside [lo, hi))."""
    all_units = np.arange(units, dtype=np.int64)
    u, starts = layout.split(np.sort(layout.key(np.concatenate([all_units, blind.u]), np.concatenate([lo, blind.b]))))
    _, ends = layout.split(np.sort(layout.key(np.concatenate([blind.u, all_units]), np.concatenate([blind.a, hi]))))
    gaps = Spans(u, starts, ends)
    return _take(gaps, gaps.b > gaps.a)


class _Durations(dict[int, timedelta]):
    """One timedelta per distinct number of microseconds: a fleet's boxes share most (the same unknown time, the
    same measured time, no excluded time), and a report holds six for each of tens of thousands of figures."""

    def __missing__(self, us: int) -> timedelta:
        self[us] = made = timedelta(microseconds=us)
        return made


# A report's durations, shared across its chunks (held as long as its builder is).
_DURATIONS: WeakKeyDictionary[ReportBuilder, _Durations] = WeakKeyDictionary()


def _build(td: _Durations, measured: int, outage: int, excluded: int, unknown: int, count: int, longest: int,
           repaired: int, repair: int) -> Uptime:
    return Uptime(td[measured], td[outage], td[excluded], td[unknown], count, td[longest], repaired,
                  td[repair] if repaired else td[0])
