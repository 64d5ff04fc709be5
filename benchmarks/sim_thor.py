"""Child process: serve a static simulated fleet of N boxes over loopback (`--latency` per request)."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from datetime import UTC, datetime

from thorbot.sim.fleet import Fleet
from thorbot.sim.loopback import LoopbackServer
from thorbot.sim.thor_server import PREFIX, FakeThor

KEY = "bench-thor-key"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--boxes", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--sessions", type=int, default=0, help="charges running (on connector #1 of the first N)")
    args = parser.parse_args()
    fleet = Fleet.generate(args.boxes, seed=42, now=datetime.now(tz=UTC))
    for box in fleet.boxes.values():
        box.last_heartbeat = datetime.now(tz=UTC)  # fresh: every box is online and stays online
    for running in list(fleet.sessions.values()):
        fleet.end_session(running.transaction)
    for box_id in list(fleet.boxes)[:args.sessions]:
        started = fleet.start_session(box_id, 1, mode="local", minutes=24 * 60)
        if started is not None:
            started.energy_wh = 1000.0 + started.transaction  # some energy: no charge looks failed or new
    thor = FakeThor(fleet, KEY)
    thor.static = True
    thor.faults.latency = args.latency
    server = await LoopbackServer(thor.app()).start()
    print(json.dumps({"url": server.url + PREFIX, "key": KEY, "ids": list(fleet.boxes)[:5000]}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop()


if __name__ == "__main__":
    asyncio.run(main())
