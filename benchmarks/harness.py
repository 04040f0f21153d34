"""The benchmark's side of the wire: an emulator that timestamps updates, and a bot in a child process.

Handling latency of an update = the moment the bot finished handling it (reported by the child, see
benchmarks.botproc) minus the moment the simulated user acted (the update was queued in the emulator).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.botproc import BotConfig
from tests.emulator import TelegramEmulator

ROOT = Path(__file__).resolve().parents[1]


class TimedEmulator(TelegramEmulator):
    """The emulator, recording when each update was queued and the last update each user caused, and why
    callback answers were refused (too late, or a second answer to the same query)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.queued_at: dict[int, float] = {}
        self.last_update_of: dict[int, int] = {}
        self.refused_answers: Counter[str] = Counter()

    def _answer_callback_query(self, p: dict[str, Any], files: dict[str, Any]) -> bool:
        handle = self._callbacks.get(p["callback_query_id"])
        if handle is not None and handle.answered:
            self.refused_answers["callback answered twice"] += 1
        elif handle is not None and time.monotonic() - handle.created_at > self.callback_answer_timeout:
            self.refused_answers[f"callback answered > {self.callback_answer_timeout:.0f} s after delivery"] += 1
        return super()._answer_callback_query(p, files)

    def _queue_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        at = time.monotonic()
        update = super()._queue_update(kind, payload)
        update_id: int = update["update_id"]
        self.queued_at[update_id] = at
        sender = payload.get("from")
        if isinstance(sender, dict):
            self.last_update_of[int(sender["id"])] = update_id
        return update

    def polling(self) -> bool:
        return any(call.method == "getUpdates" for call in self.requests)


class Completions:
    """When the bot finished each update; simulated users wait here for the bot's reaction."""

    def __init__(self) -> None:
        self.done: dict[int, float] = {}
        self.failed: set[int] = set()  # the handlers raised (the error escaped the bot's own error handling)
        self._waiters: dict[int, asyncio.Future[float]] = {}

    def feed(self, update_id: int, at: float, ok: bool) -> None:
        self.done[update_id] = at
        if not ok:
            self.failed.add(update_id)
        waiter = self._waiters.pop(update_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(at)

    async def wait(self, update_id: int, timeout: float) -> float | None:  # noqa: ASYNC109
        """The completion time, or None if the bot did not finish the update within `timeout` seconds."""
        if update_id in self.done:
            return self.done[update_id]
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[update_id] = waiter
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            self._waiters.pop(update_id, None)
            return None


@dataclass
class ExitInfo:
    rss_kb: int = 0
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)


class BotProcess:
    """`python -m benchmarks.botproc CONFIG` as a child process; its stdout feeds `completions`."""

    def __init__(self, cfg: BotConfig, completions: Completions) -> None:
        self.cfg = cfg
        self.completions = completions
        self.exit_info: ExitInfo | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self, emu: TimedEmulator, timeout: float = 120.0) -> None:  # noqa: ASYNC109
        """Start the bot and wait until it polls the emulator."""
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.botproc",
            self.cfg.to_json(),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,  # closed by us (or by our death): the bot stops
            stdout=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read(self._proc))
        deadline = time.monotonic() + timeout
        while not emu.polling():
            if self._reader.done() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.cfg.kind} bot did not start polling; see {self.cfg.log_path}")
            await asyncio.sleep(0.05)

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode().rstrip("\n")
            if line.startswith("D "):
                _, update_id, at, ok = line.split()
                self.completions.feed(int(update_id), float(at), ok == "1")
            elif line.startswith("X "):
                self.exit_info = ExitInfo(**json.loads(line[2:]))

    async def stop(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """SIGTERM: aiogram stops polling gracefully, the bot closes its session and engine, then exits."""
        if self._proc is None:
            return
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGTERM)
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            await asyncio.wait_for(self._proc.wait(), timeout)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._reader, 10)
