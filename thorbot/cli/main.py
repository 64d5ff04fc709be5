"""`thorbot` command line: serve, worker, socket, status, doctor, report, stickers, backup, restore, demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence

from pydantic import AliasChoices, ValidationError

from thorbot import __version__
from thorbot.adapters.store import RedisDown
from thorbot.errors import ConfigError, ThorError
from thorbot.redact import configure_logging, redact
from thorbot.settings import EnvFileError, Settings

log = logging.getLogger("thorbot")
GRACE = 3.0     # seconds a stopping command may take to finish on its own (end the cycle, release the lease)
CLEANUP = 3.0   # then it is cancelled, and its cleanup (closing servers, stopping Redis) gets this long
Command = Callable[[Settings, asyncio.Event], Awaitable[int]]
INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C


HELP = {
    "serve": ("the HTTP endpoint for Slack", """\
Serves Slack's requests on $PORT (default 3000): POST /slack/events for slash commands, button
clicks and events (every request's signature is checked), GET /healthz (checks Redis), and, when
THORBOT_THOR_WEBHOOK_TOKEN is set, Thor's push notifications at /thor/notifications/<token>.
Needs SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN, THOR_API_KEY; REDIS_URL (unset: an embedded Redis
under THORBOT_DATA_DIR, fine for one machine). Run `thorbot worker` beside it for alerts."""),
    "worker": ("the poll job and alert delivery", """\
Polls Thor every THORBOT_POLL_INTERVAL seconds, keeps the last seen state in Redis, and posts
alerts, recoveries, stuck-charge notices and digests to Slack. Several may run: a lease in Redis
picks one leader, the others stand by. Needs SLACK_BOT_TOKEN, THOR_API_KEY and the same REDIS_URL
as `serve`."""),
    "socket": ("Socket Mode: the Slack app and the worker in one process", """\
For a laptop or a host without a public URL: connects to Slack over Socket Mode and runs the
worker in the same process. Needs SLACK_APP_TOKEN (xapp-, connections:write), SLACK_BOT_TOKEN,
THOR_API_KEY; set socket_mode_enabled: true in the app's manifest."""),
    "status": ("one chargebox's card in the terminal", """\
Prints the status card of the chargebox with that id, or whose name matches, straight from Thor
(no Slack, no Redis). Needs THOR_API_KEY. Exit status: 0 card shown, 1 Thor error, 3 no match,
4 several matches (their ids are listed)."""),
    "doctor": ("check every setting, Slack, Thor and Redis", """\
Checks each setting, Slack (auth.test, the bot's scopes against manifest.yml), Thor (key, source
IP, REST enabled: one list call), Redis (reachable, persistence, eviction) and each channel's
pager (its key opens; --send-test sends a test event, triggered then resolved), and prints one
line per check with the fix. Exit status 1 when a check failed. Run it first when deploying."""),
    "report": ("the reliability report from thorbot's history", """\
Connectivity uptime per box (NEVI's formula), outages, MTTR, unknown time and charge success,
worst first, from the history thorbot keeps in Redis. Needs only REDIS_URL (or the embedded
Redis's THORBOT_DATA_DIR); THORBOT_TIMEZONE sets the days. `--quarter 2026Q3 --format ev-chart` writes the
quarter's EV-ChART files (uptime per port, outages per port). Exit status: 0 done, 1 a file could not
be written, 2 a period or quarter that does not exist, 3 no match, 4 several matches."""),
    "stickers": ("QR stickers for every connector: a printable PDF, or CSV", """\
Writes one label per connector (the box's name, the connector's number and type, a QR code and
the link written out, and a line for the driver) as a PDF to print, eight a page on A4 or US
Letter, or `--format csv` (box_id,connector,url). Boxes come from Thor's list: `all` (the
default) or one box's id or name. Each link is $THORBOT_PUBLIC_URL/r/<code>: the code is derived
from THORBOT_STICKER_KEY (the same every run), and `--revoke <box>` voids that box's stickers
(their page then says so) and writes its new ones. Needs THOR_API_KEY, THORBOT_PUBLIC_URL,
THORBOT_STICKER_KEY and Redis (REDIS_URL). Exit status: 0 written, 1 Thor error or a file that
could not be written, 2 a setting missing, 3 no match, 4 several matches."""),
    "backup": ("copy every thorbot key in Redis (history included) to a file", """\
Copies every thorbot key (settings people made, incidents, 400 days of history) at one moment (one
script Redis runs alone, with each key's TTL) into FILE: gzip'd JSON lines with a format version,
written to a temporary file and renamed, so FILE is whole or untouched. Values are copied as stored:
pager keys stay sealed under THORBOT_SECRETS_KEY. Needs REDIS_URL (or the embedded Redis's
THORBOT_DATA_DIR). Keep FILE as private as Redis. docs/operations.md, "Backups". Exit status: 0
written, 1 Redis or the file failed."""),
    "restore": ("put a backup file's keys back into Redis", """\
Reads the whole of FILE (written by `thorbot backup`) and checks it before writing anything, then
restores every key with its TTL into REDIS_URL in one transaction. Refuses a target that already holds
thorbot keys unless --force (which deletes them and says how many). Stop serve and the workers first.
Exit status: 0 restored, 1 Redis failed or FILE cannot be read, 2 FILE is not a usable backup (cut
short, damaged) or is in a newer format (nothing changed), 3 the target holds thorbot keys (no
--force; nothing changed), 4 the target Redis is older than the backup's (nothing changed)."""),
    "demo": ("the whole product against a simulated fleet; no credentials", """\
Runs an embedded Redis, a simulated Thor fleet, a fake Slack rendered in this terminal, the real
app and the real worker, then plays a story (an outage, a stuck charge stopped from Slack, failed
starts). Type slash commands as in Slack, or `help` for the demo's helpers. Needs nothing."""),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="thorbot", description="Slack chat-ops for Thor EV chargeboxes. "
                                     "Every setting comes from the environment: docs/configuration.md.")
    parser.add_argument("--version", action="version", version=f"thorbot {__version__}")
    sub = parser.add_subparsers(dest="cmd", metavar="command")

    def command(name: str) -> argparse.ArgumentParser:
        summary, description = HELP[name]
        return sub.add_parser(name, help=summary, description=description,
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    command("serve")
    command("worker")
    command("socket")
    status = command("status")
    status.add_argument("query", nargs="+", help="chargebox id or name")
    doctor = command("doctor")
    doctor.add_argument("--send-test", action="store_true",
                        help="send each connected pager a test event (triggered, then resolved at once)")
    doctor.add_argument("--new-secrets-key", action="store_true",
                        help="print a new key for THORBOT_SECRETS_KEY and exit")
    report = command("report")
    report.add_argument("words", nargs="*", metavar="[box|name|all] [7d|30d|YYYY-MM|12m]",
                        help="a box (id or name) or all (default), then the period (default 30d)")
    report.add_argument("--csv", metavar="FILE", help="write every box and port as CSV to FILE ('-' = stdout); with "
                        "--format ev-chart, the two files' common start (default thorbot-evchart-<quarter>)")
    report.add_argument("--quarter", metavar="YYYYQn", help="the period is that calendar quarter (e.g. 2026Q3)")
    report.add_argument("--format", choices=("text", "csv", "ev-chart"), default=None,
                        help="text (the default), csv (as --csv), or ev-chart: FHWA's EV-ChART uptime and outage "
                             "files for a quarter (docs/ev-chart.md)")
    stickers = command("stickers")
    stickers.add_argument("query", nargs="*", metavar="box|all", help="a box's id or name, or all (the default)")
    stickers.add_argument("--out", metavar="FILE",
                          help="where to write ('-' = stdout; default thorbot-stickers-<box or all>.<format>)")
    stickers.add_argument("--format", choices=("pdf", "csv"), default="pdf",
                          help="pdf (labels to print, the default) or csv (box_id,connector,url)")
    stickers.add_argument("--paper", choices=("a4", "letter"), default="a4", help="the PDF's paper (default a4)")
    stickers.add_argument("--revoke", action="store_true",
                          help="revoke the box's stickers (their page says they are no longer valid), write new ones")
    backup = command("backup")
    backup.add_argument("file", metavar="FILE", help="where to write the backup (e.g. thorbot-2026-11-23.jsonl.gz)")
    restore = command("restore")
    restore.add_argument("file", metavar="FILE", help="a file written by `thorbot backup`")
    restore.add_argument("--force", action="store_true",
                         help="restore even though the target holds thorbot keys: they are deleted first")
    demo = command("demo")
    # Numbers are read as text and checked together (_demo_problems): every bad flag gets its own line.
    demo.add_argument("--speed", default="1.0",
                      help="simulated seconds per real second (10: the story in about 90 s)")
    demo.add_argument("--seed", default="7", help="the same fleet and story for the same seed")
    demo.add_argument("--boxes", default="25", help="fleet size")
    demo.add_argument("--slack", action="store_true",
                      help="drive a real workspace in Socket Mode (needs SLACK_BOT_TOKEN, SLACK_APP_TOKEN)")
    demo.add_argument("--script", help="read console lines from this file instead of the keyboard ('-' = stdin)")
    demo.add_argument("--duration", default="0",
                      help="stop after this many real seconds (0: when you quit, or when a script's story ends)")
    demo.add_argument("--history-days", default="0", metavar="N",
                      help="make up N days (up to 400) of past outages and charges, for `report`")
    return parser


def install_stop_signals(stop: asyncio.Event, on_second: Callable[[], None] | None = None) -> None:
    """SIGTERM/SIGINT set `stop`; a second one calls `on_second` (stop waiting, cancel now)."""
    loop = asyncio.get_running_loop()

    def handle() -> None:
        if stop.is_set() and on_second is not None:
            on_second()
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, handle)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not on the main thread
            pass


async def run_until_stopped(command: Callable[[asyncio.Event], Awaitable[int]], *, watches_stop: bool) -> int:
    """Run `command(stop)` until it ends, or until SIGTERM/SIGINT plus a short grace, whatever state it is in.

    A command that watches `stop` gets GRACE seconds to finish by itself; then (or at once, for one that
    does not) it is cancelled, so its `finally` blocks close servers and stop the Redis it started.
    """
    stop = asyncio.Event()
    main = asyncio.ensure_future(command(stop))
    install_stop_signals(stop, on_second=lambda: _cancel(main))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({main, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not main.done():
            if watches_stop:
                await asyncio.wait({main}, timeout=GRACE)
            if not main.done():
                main.cancel()
                await asyncio.wait({main}, timeout=CLEANUP)
        if not main.done():
            log.error("thorbot did not finish cleaning up in time; exiting anyway")
            return 1
        if main.cancelled():  # stopped by SIGTERM/SIGINT: the end of a service, an interruption of a one-off
            return 0 if watches_stop else INTERRUPTED
        return main.result()
    finally:
        stopped.cancel()


def _cancel(task: asyncio.Future[int]) -> None:
    task.cancel()


def _problems(exc: ValidationError) -> list[str]:
    names: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names[name] = str(alias.choices[0]) if isinstance(alias, AliasChoices) else name
    lines = []
    for error in exc.errors():
        where = ".".join(str(names.get(str(part), part)) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return lines


async def _dispatch(args: argparse.Namespace, settings: Settings, stop: asyncio.Event) -> int:
    if args.cmd == "status":
        from thorbot.cli.status import run_status

        return await run_status(settings, " ".join(args.query))
    if args.cmd == "report":
        from thorbot.cli.report import run_report

        return await run_report(settings, list(args.words), args.csv, quarter=args.quarter, form=args.format)
    if args.cmd == "stickers":
        from thorbot.cli.stickers import run_stickers

        return await run_stickers(settings, " ".join(args.query), out=args.out, form=args.format, paper=args.paper,
                                  revoke=args.revoke)
    if args.cmd == "backup":
        from thorbot.cli.backup import run_backup

        return await run_backup(settings, args.file)
    if args.cmd == "restore":
        from thorbot.cli.restore import run_restore

        return await run_restore(settings, args.file, force=args.force)
    if args.cmd == "doctor":
        from thorbot.cli.doctor import run_doctor

        return await run_doctor(settings, send_test=args.send_test, new_secrets_key=args.new_secrets_key)
    if args.cmd == "demo":
        from thorbot.demo.run import run_demo

        return await run_demo(settings, args, stop)
    if args.cmd == "serve":
        from thorbot.cli.serve import run_serve

        return await run_serve(settings, stop)
    if args.cmd == "worker":
        from thorbot.cli.worker import run_worker

        return await run_worker(settings, stop)
    from thorbot.cli.socket import run_socket

    return await run_socket(settings, stop)


# The demo's numeric flags: (name, type, allowed, what to say).
DEMO_NUMBERS: tuple[tuple[str, type, Callable[[float], bool], str], ...] = (
    ("speed", float, lambda v: v > 0, "a number above 0, like 10"),
    ("seed", int, lambda v: True, "a whole number"),
    ("boxes", int, lambda v: 1 <= v <= 100_000, "a whole number from 1 to 100000"),
    ("duration", float, lambda v: v >= 0, "seconds, 0 or more"),
    ("history_days", int, lambda v: 0 <= v <= 400, "a whole number of days from 0 to 400"),
)


def _demo_problems(args: argparse.Namespace) -> list[str]:
    """Each bad numeric flag of `thorbot demo`, one line each; the good ones become numbers in `args`."""
    problems = []
    for name, kind, allowed, wanted in DEMO_NUMBERS:
        raw = getattr(args, name)
        try:
            number = kind(raw)
        except ValueError:
            number = None
        if number is None or not allowed(number):
            problems.append(f"thorbot demo: --{name.replace('_', '-')} {raw!r}: must be {wanted}")
        else:
            setattr(args, name, number)
    return problems


def _before_settings(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int | None:
    """An exit status when the command line alone settles it: `thorbot` alone (help), bad demo flags."""
    if args.cmd is None:  # what it can do, not an error
        parser.print_help()
        return 0
    if args.cmd == "demo":
        problems = _demo_problems(args)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            return 2
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    early = _before_settings(parser, args)
    if early is not None:
        return early
    try:
        settings = Settings()
    except ValidationError as exc:
        print("thorbot: invalid configuration (docs/configuration.md):", file=sys.stderr)
        for line in _problems(exc):
            print(f"  {line}", file=sys.stderr)
        return 2
    except EnvFileError as exc:
        print(f"thorbot: invalid configuration: {exc}", file=sys.stderr)
        return 2
    needs = "demo --slack" if args.cmd == "demo" and args.slack else args.cmd
    missing = settings.missing_for(needs)
    if missing:
        print(f"thorbot {needs}: cannot start; not set:", file=sys.stderr)
        for line in missing:
            print(f"  {line}", file=sys.stderr)
        print("See docs/configuration.md, or run `thorbot doctor`.", file=sys.stderr)
        return 2
    quiet = ("demo", "status", "doctor", "report", "stickers", "backup", "restore")
    configure_logging(settings.log_level if args.cmd not in quiet else "WARNING", settings.log_format)
    watches_stop = args.cmd in ("serve", "worker", "socket", "demo")
    try:
        code = asyncio.run(run_until_stopped(lambda stop: _dispatch(args, settings, stop), watches_stop=watches_stop))
        if code == INTERRUPTED and not watches_stop:
            print(f"thorbot {args.cmd}: interrupted", file=sys.stderr)
        return code
    except ConfigError as exc:
        print(f"thorbot {args.cmd}: {redact(str(exc))}", file=sys.stderr)
        return 2
    except ThorError as exc:
        print(f"thorbot {args.cmd}: {redact(str(exc))}", file=sys.stderr)
        return 1
    except RedisDown as exc:
        where = "REDIS_URL" if settings.redis_url else "the embedded Redis (THORBOT_DATA_DIR)"
        print(f"thorbot {args.cmd}: cannot reach Redis ({type(exc).__name__}: {redact(str(exc))[:160]}); "
              f"check {where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"thorbot {args.cmd}: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
