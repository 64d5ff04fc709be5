"""A TCP proxy on loopback that can stall or cut the link it carries: the network faults of a chaos day.

- `hold()` stops moving bytes in both directions while the connections stay open; `release()` then
  delivers everything that waited, late (a cloud network blip, a frozen switch port).
- `partition()` does the same, but `heal()` then drops what waited and closes the connections: the
  peers must notice (their timeouts) and reconnect.
- `hold_answer_to(marker)` lets requests through but holds the answers from the moment a request
  containing `marker` went by (the reply to that very command is late), until `release()`.

Used between a worker and Redis, while Slack stays reachable.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass(eq=False)  # one per direction of a link, kept in a set: hashed by identity
class _Pipe:
    writer: asyncio.StreamWriter
    pending: list[bytes] = field(default_factory=list)


class StallingProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._cut = False
        self._links: set[tuple[_Pipe, _Pipe]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.holds = 0
        self._marker: bytes | None = None
        self._answers = asyncio.Event()
        self._answers.set()
        self.answer_held = asyncio.Event()  # set once a marked request went by and its answer is being held

    def hold_answer_to(self, marker: bytes) -> None:
        self._marker = marker
        self.answer_held.clear()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def hold(self) -> None:
        self.holds += 1
        self._flowing.clear()

    def release(self) -> None:
        """Deliver what waited, late, and carry on (a marker not yet met is forgotten)."""
        self._marker = None
        self._cut = False
        self._flowing.set()
        self._answers.set()

    def partition(self) -> None:
        self.hold()
        self._cut = True

    def heal(self) -> None:
        """End a partition: what waited is lost, the connections are closed; new ones work again."""
        for client, server in list(self._links):
            for pipe in (client, server):
                pipe.pending.clear()
                with contextlib.suppress(Exception):
                    pipe.writer.close()
        self._links.clear()
        self._marker = None
        self._cut = False
        self._flowing.set()
        self._answers.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        client, server = _Pipe(writer), _Pipe(upstream_writer)
        self._links.add((client, server))
        carriers = []
        for source, sink, answers in ((reader, server, False), (upstream_reader, client, True)):
            task = asyncio.ensure_future(self._carry(source, sink, answers))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            carriers.append(task)
        # Stay in the connection handler while the link lives: asyncio may close the client's stream
        # when it returns.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*carriers, return_exceptions=True)
        self._links.discard((client, server))

    async def _carry(self, source: asyncio.StreamReader, sink: _Pipe, answers: bool) -> None:
        try:
            while data := await source.read(65536):
                sink.pending.append(data)
                await self._flowing.wait()
                if answers:
                    await self._answers.wait()
                elif self._marker is not None and self._marker in data:
                    self._marker = None
                    self._answers.clear()
                    self.answer_held.set()
                if self._cut:
                    continue
                while sink.pending:
                    sink.writer.write(sink.pending.pop(0))
                await sink.writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                sink.writer.close()

    async def stop(self) -> None:
        self.heal()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
