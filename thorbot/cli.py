"""`thorbot` command line: serve, worker, socket, status, demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from thorbot import __version__
from thorbot.errors import ConfigError, ThorError
from thorbot.redact import configure_logging, redact
from thorbot.settings import Settings

log = logging.getLogger("thorbot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="thorbot", description="Slack chat-ops for Thor EV chargeboxes")
    parser.add_argument("--version", action="version", version=f"thorbot {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("serve", help="HTTP endpoint for Slack: POST /slack/events, GET /healthz on $PORT")
    sub.add_parser("worker", help="the periodic poll job and alert delivery")
    sub.add_parser("socket", help="Socket Mode: the Slack app and the worker in one process")
    status = sub.add_parser("status", help="print one chargebox's card in the terminal")
    status.add_argument("query", nargs="+", help="chargebox id or name")
    demo = sub.add_parser("demo", help="the whole product against a simulated fleet; no credentials needed")
    demo.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    demo.add_argument("--seed", type=int, default=7, help="seed for a reproducible fleet story")
    demo.add_argument("--boxes", type=int, default=25, help="fleet size")
    demo.add_argument("--slack", action="store_true", help="drive a real workspace in Socket Mode")
    demo.add_argument("--script", help="read console commands from this file instead of stdin ('-' = stdin)")
    demo.add_argument("--duration", type=float, default=0.0, help="stop after this many real seconds (0 = never)")
    return parser


def _install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not on the main thread
            pass


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.cmd == "status":
        from thorbot.commands.status import run_status

        return await run_status(settings, " ".join(args.query))
    if args.cmd == "demo":
        from thorbot.demo import run_demo

        return await run_demo(settings, args)
    stop = asyncio.Event()
    _install_stop_signals(stop)
    if args.cmd == "serve":
        from thorbot.commands.serve import run_serve

        return await run_serve(settings, stop)
    if args.cmd == "worker":
        from thorbot.commands.worker import run_worker

        return await run_worker(settings, stop)
    from thorbot.commands.socket import run_socket

    return await run_socket(settings, stop)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"thorbot: invalid configuration: {problems}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level if args.cmd != "demo" else "WARNING")
    try:
        return asyncio.run(_run(args, settings))
    except ConfigError as exc:
        print(f"thorbot: {redact(str(exc))}", file=sys.stderr)
        return 2
    except ThorError as exc:
        print(f"thorbot: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
