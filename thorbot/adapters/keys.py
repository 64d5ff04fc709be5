"""Every Redis key thorbot uses, in one place (docs/architecture.md → "Redis keys" points here).

All keys share the hash tag `{thorbot}`, so multi-key transactions work on Redis Cluster too, and
the `v1` segment versions the layout (a future v2 can migrate or live side by side).

| key | type | contents | TTL / bound |
|---|---|---|---|
| schema | string | layout version ("1") | none |
| boxes | hash | box id → BoxRecord JSON (last seen alert state) | entries removed when no channel watches the box |
| boxes:sighted | hash | box id → BoxRecord JSON: what `subscribe` saw, until the worker records its own | 1 day |
| boxes:version | string | counter bumped whenever `boxes` changes (lets the leader cache records) | none |
| subs:channels | set | channels that have any subscription | removed when empty |
| subs:all | set | channels subscribed to the whole fleet | none (bounded by channels) |
| subs:<channel> | set | box ids the channel watches | deleted when empty |
| incident:<id> | string | Incident JSON | none while open; 30 days after it resolves or its box stops being watched |
| incidents:recent | list | newest incident ids | trimmed to 1,000 |
| outbox | hash | job id → Job JSON awaiting delivery | emptied by delivery; dead jobs dropped after 24 h |
| outbox:due | zset | job id → earliest delivery time (epoch s) | mirrors `outbox` |
| alertmsg:<incident>:<channel> | string | ts of the alert message for that incident in that channel | 30 days |
| msg:<channel>:<ts> | string | JSON list of incident ids shown in that message | 30 days |
| thor | string | ThorHealth JSON (consecutive failures, notified?) | none |
| lease | string | leader token of the worker allowed to poll | lease TTL (3 × poll interval) |
| worker:<id> | string | last heartbeat of a worker process | 3 × poll interval |
| oncall | hash | channel → OnCall JSON (who alerts mention) | removed by `oncall clear` |
| rotations | hash | channel → Rotation JSON (members, cadence, handoff time, zone, overrides) | `rotation off` |
| rotations:announced | hash | channel → the last change of who is on call it announced (epoch s) | `rotation off` |
| pagers | hash | channel → PagerLink JSON (its key or secret sealed: THORBOT_SECRETS_KEY) | `pager off` |
| pages:sent | zset | page job id (and `<id>@<pager>`: which one) → when the pager took it | 35 days |
| pager_failure:<channel> | string | the pager's last permanent refusal (told once) | 30 days; a page landing |
| holds:<channel> | hash | `mute:<box>` / `snooze:<box>` (`*` = all) → Hold JSON | expired fields removed when read |
| ack:<channel>:<ts> | string | Ack JSON for that alert message | 30 days |
| escalations | zset | `<channel>|<ts>` → next escalation check (epoch s) | removed once acked, resolved or maxed |
| esc:<channel>:<ts> | string | escalations sent so far for that message | 30 days |
| refreshed:<channel>:<ts> | string | an alert's Refresh was answered recently | 60 s |
| usergroup:<id> | string | cached member list of an admin user group | 5 minutes |
| batch:<id> | string | JSON {jobs, incidents} of one post attempt; its id is in the message's metadata | 2 days |
| watches | hash | transaction → SessionWatch JSON (flat energy reading; notice sent?) | until the session ends |
| watches:version | string | counter bumped when `watches` changes (the leader caches them) | none |
| connectors | hash | `<box>#<n>` → ConnectorRecord JSON (failures, failed-starts incident) | swept when unwatched |
| attempts:<box>#<n> | list | `<epoch>:<1 ok / 0 failed>`, newest first (7-day success rate) | 200 entries; 8 days |
| sessions:day:<box> | hash | `<YYYYMMDD>:ok` / `:failed` / `:wh` counters (reports) | 35 days; key 40 days |
| sessions:month:<box> | hash | `<YYYYMM>:ok` / `:failed` / `:wh` counters (reports) | 14 months; key 15 months |
| usage:<box> | hash | connector → Usage JSON: starts by hour of the week, last start, open episodes | 35 days |
| usage:version | string | a new random value whenever any `usage:<box>` changes (the leader caches them) | none |
| usage:seeded | hash | box id → when its baseline was seeded from finished charges (epoch s) | swept |
| starts:seen | zset | transaction → when it started (a start is counted once, running or finished) | 3 days |
| finished:seen | zset | transaction → when it finished (counted once, polled or notified) | 3 days |
| finished:read_at | string | when the worker last read `/charges/finished` | none |
| start:<transaction> | string | StartNote JSON from Thor's start notification (the API id_tag) | 3 days |
| stopnote:<transaction> | string | StopNote JSON from Thor's stop notification | 3 days |
| noteseen:<hash> | string | a notification already taken (Thor may send one twice) | 3 days |
| inbox | list | Attempt JSON from notifications, for the worker to judge | drained each cycle; 10,000 at most |
| inbox:dropped | string | attempts dropped because the inbox was full (oldest first) | none (a counter) |
| drivers:inbox | list | DriverReport JSON (report page, workflow steps) | drained each cycle; 10,000 at most |
| drivers:actions | list | PersonAction JSON (Confirm, Resolve on a report) | drained each cycle; 10,000 at most |
| drivers:rl:<s|c>:<hash>:<minute> | string | report-page requests in one minute, per source or connector | 2 minutes |
| drivers:dropped | string | driver reports dropped because their inbox was full (oldest first) | none (a counter) |
| drivers:open | set | `box#connector` whose reported incident is open (the worker's index) | one per connector |
| stop:<id> | string | StopRequest JSON: a remote stop asked from Slack | 30 days |
| stops:pending | zset | stop id → when "not confirmed" is due (2 minutes) | removed when settled |
| stops:audit | list | StopRequest JSON, newest first (the intent, then Thor's answer) | 1,000 entries |
| stopclaim:<transaction> | string | JSON {by, at}: someone is asking Thor to stop this charge | confirm window + 60 s |
| stopview:<view id> | string | JSON {by, at}: this confirmation was taken (a replay does nothing) | 1 day |
| delivery_errors | hash | channel → last permanent Slack error posting there (JSON) | cleared by the next good post |
| history:<box> | zset | `kind|connector|start|end` of each resolved incident, scored by its end | 400 days (swept) |
| history:first_seen | hash | box id → when thorbot first saw it (epoch s) | swept 400 days after unwatched |
| history:names | hash | box id → its name when first seen (for boxes no longer watched) | as first_seen |
| history:last_watched | hash | box id → when the daily sweep first found it unwatched (epoch s) | 400 days |
| swept | string | the worker that ran the daily sweep (adapters/housekeeping.py) | 1 day |
| history:mutes | zset | JSON {box, channel, start, end} of each mute (not maintenance), scored by its end | 400 days |
| reports:unconfirmed | zset | `box|port|start|end|reports`: reports resolved unconfirmed, by end | 400 days |
| worker:last_cycle | string | when a leader last completed a cycle that observed the fleet (epoch s) | none (one key) |
| metrics:worker | string | the leader's Prometheus exposition, for serve's `/metrics` (adapters/metrics.py) | 1 hour |
| history:causes:<box> | hash | `<kind code>|<start>` of an outage → `cause|by|at|note` (who, when) | 400 days |
| history:ports | hash | box id → how many connectors (ports) Thor lists for it | swept with the box |
| maintenance | zset | JSON {id, box, start, end, note, by} of each scheduled window, scored by its end | 400 days |
| observed:<YYYYMMDD> | string | bitmap: bit n set = minute n of that UTC day had a successful poll | 401 days |
| uploads:<user> | string | report files uploaded for that user in the current 10 minutes | 10 minutes |
| digests | hash | channel → DigestPlan JSON (cadence, time, zone) | removed by `digest off` |
| digests:posted | hash | channel → the last period whose digest was queued (in the same commit) | with the plan |
| stickers:epochs | hash | box id → revocation epoch of its stickers (`stickers --revoke`) | a field per revoked box |
"""

from __future__ import annotations

import hashlib

PREFIX = "{thorbot}:v1:"
SCHEMA_VERSION = "1"
INCIDENT_TTL = 30 * 24 * 3600
RECENT_INCIDENTS = 1000

SCHEMA = PREFIX + "schema"
BOXES = PREFIX + "boxes"
BOXES_VERSION = PREFIX + "boxes:version"
BOXES_SIGHTED = PREFIX + "boxes:sighted"
SIGHTED_TTL = 24 * 3600
SUB_CHANNELS = PREFIX + "subs:channels"
SUB_ALL = PREFIX + "subs:all"
RECENT = PREFIX + "incidents:recent"
OUTBOX = PREFIX + "outbox"
OUTBOX_DUE = PREFIX + "outbox:due"
THOR = PREFIX + "thor"
LEASE = PREFIX + "lease"
METRICS_WORKER = PREFIX + "metrics:worker"
WORKER_LAST_CYCLE = PREFIX + "worker:last_cycle"


def subs(channel: str) -> str:
    return f"{PREFIX}subs:{channel}"


def incident(incident_id: str) -> str:
    return f"{PREFIX}incident:{incident_id}"


def alert_message(incident_id: str, channel: str) -> str:
    return f"{PREFIX}alertmsg:{incident_id}:{channel}"


def message(channel: str, ts: str) -> str:
    return f"{PREFIX}msg:{channel}:{ts}"


BATCH_TTL = 2 * 24 * 3600
WATCHES = PREFIX + "watches"
WATCHES_VERSION = PREFIX + "watches:version"
CONNECTORS = PREFIX + "connectors"
FINISHED_SEEN = PREFIX + "finished:seen"
FINISHED_READ_AT = PREFIX + "finished:read_at"
INBOX = PREFIX + "inbox"
INBOX_DROPPED = PREFIX + "inbox:dropped"
DRIVER_INBOX = PREFIX + "drivers:inbox"
DRIVER_INBOX_DROPPED = PREFIX + "drivers:dropped"
DRIVER_ACTIONS = PREFIX + "drivers:actions"
DRIVERS_OPEN = PREFIX + "drivers:open"  # set of connector keys whose reported incident is open (the worker's index)
STICKER_EPOCHS = PREFIX + "stickers:epochs"  # box id → revocation epoch (domain/stickers.py)


def report_limit(scope: str, name: str, window: int) -> str:
    """A report-page rate-limit counter: per source (`s`) or connector (`c`), per one-minute window."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:24]  # a box id may hold any character
    return f"{PREFIX}drivers:rl:{scope}:{digest}:{window}"
STOPS_PENDING = PREFIX + "stops:pending"
STOP_AUDIT = PREFIX + "stops:audit"
ATTEMPTS_TTL = 8 * 24 * 3600
SESSIONS_DAILY_TTL = 40 * 24 * 3600
SESSIONS_MONTHLY_TTL = 460 * 24 * 3600
FINISHED_SEEN_DAYS = 3


HISTORY_DAYS = 400
HISTORY_FIRST_SEEN = PREFIX + "history:first_seen"
HISTORY_NAMES = PREFIX + "history:names"
HISTORY_MUTES = PREFIX + "history:mutes"
HISTORY_PORTS = PREFIX + "history:ports"
MAINTENANCE = PREFIX + "maintenance"
HOURS = PREFIX + "hours"  # hash box id → {"hours", "zone"}: the box's own posted hours (`/chargebox hours`)
HISTORY_LAST_WATCHED = PREFIX + "history:last_watched"
# Drivers' reports resolved unconfirmed, shown apart in reports: `box|connector|start|end|reports`, scored by end.
UNCONFIRMED_REPORTS = PREFIX + "reports:unconfirmed"
SWEPT = PREFIX + "swept"
DIGESTS = PREFIX + "digests"
DIGESTS_POSTED = PREFIX + "digests:posted"


USAGE_VERSION = PREFIX + "usage:version"
USAGE_SEEDED = PREFIX + "usage:seeded"
STARTS_SEEN = PREFIX + "starts:seen"


def usage(box_id: str) -> str:
    return f"{PREFIX}usage:{box_id}"


def uploads(user: str) -> str:
    return f"{PREFIX}uploads:{user}"


def history(box_id: str) -> str:
    return f"{PREFIX}history:{box_id}"


def causes(box_id: str) -> str:
    """A box's outage causes: field `kind|start`, value `cause|by|at|note` (domain/causes.py)."""
    return f"{PREFIX}history:causes:{box_id}"


def observed(day: str) -> str:
    return f"{PREFIX}observed:{day}"


def attempts(connector_key: str) -> str:
    return f"{PREFIX}attempts:{connector_key}"


def sessions_daily(box_id: str) -> str:
    return f"{PREFIX}sessions:day:{box_id}"


def sessions_monthly(box_id: str) -> str:
    return f"{PREFIX}sessions:month:{box_id}"


def start_note(transaction: int) -> str:
    return f"{PREFIX}start:{transaction}"


def stop_note(transaction: int) -> str:
    return f"{PREFIX}stopnote:{transaction}"


def note_seen(digest: str) -> str:
    return f"{PREFIX}noteseen:{digest}"


def stop_request(stop_id: str) -> str:
    return f"{PREFIX}stop:{stop_id}"


def stop_claim(transaction: int) -> str:
    return f"{PREFIX}stopclaim:{transaction}"


def stop_view(view_id: str) -> str:
    return f"{PREFIX}stopview:{view_id}"


def batch(batch_id: str) -> str:
    return f"{PREFIX}batch:{batch_id}"


def worker(worker_id: str) -> str:
    return f"{PREFIX}worker:{worker_id}"


ONCALL = PREFIX + "oncall"
ROTATIONS = PREFIX + "rotations"
ROTATIONS_ANNOUNCED = PREFIX + "rotations:announced"
PAGERS = PREFIX + "pagers"
PAGES_SENT = PREFIX + "pages:sent"
DELIVERY_ERRORS = PREFIX + "delivery_errors"
ESCALATIONS = PREFIX + "escalations"
HELD_ALERTS = PREFIX + "held:alerts"  # zset [channel, incident, box] → hold end; each leaves when posted or moot


def holds(channel: str) -> str:
    return f"{PREFIX}holds:{channel}"


def pager_failure(channel: str) -> str:
    return f"{PREFIX}pager_failure:{channel}"


def ack(channel: str, ts: str) -> str:
    return f"{PREFIX}ack:{channel}:{ts}"


def escalation_count(channel: str, ts: str) -> str:
    return f"{PREFIX}esc:{channel}:{ts}"


def refreshed(channel: str, ts: str) -> str:
    return f"{PREFIX}refreshed:{channel}:{ts}"


def usergroup(group_id: str) -> str:
    return f"{PREFIX}usergroup:{group_id}"
