"""Simulated users: municipal staff working with munorders, and the same traffic replayed to the bare bot.

A munorders user works in sessions, pressing only buttons the bot showed them (so the bot does real work
and Telegram would accept every request):

- browse: /inbox (heads and deputies also /outbox, the controller /control) → open a card from the list →
  one of the actions its buttons allow: accept (then pick an executor), report (text, then «Submit»),
  close, comment (text), or just view the history;
- act on a notification: the bot told them about an order that now waits for them (assigned to them: report;
  report submitted: close) and they press the button on that message.

Each user waits for the bot to finish an update before the next action (a closed loop, no think time).
"""

from __future__ import annotations

import itertools
import random
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from benchmarks.harness import Completions, TimedEmulator
from benchmarks.seed import Person
from tests.emulator import SimUser, StoredMessage

COMMENTS = (
    "Прошу уточнить срок предоставления информации.",
    "Информацию направили в рабочем порядке, копию приложим к отчёту.",
    "Просим согласовать перенос выезда на следующую неделю.",
    "Вопрос на контроле, ждём ответ подрядчика.",
)
REPORTS = (
    "Работы выполнены, акт осмотра подписан.",
    "Ответ заявителю направлен, исх. № 1024 от сегодняшнего дня.",
    "Проверка проведена, нарушения устранены, фотоотчёт в деле.",
)
# How much a user prefers each action when the card offers it (history is always offered).
WEIGHTS = {"accept": 6.0, "report": 6.0, "close": 6.0, "comment": 2.0, "history": 1.5}
MANAGER_REPORT_WEIGHT = 1.0  # heads may report for their department, but mostly leave it to the executor
FROM_NOTIFICATION = 0.7  # chance to act on a waiting notification rather than browse the lists
TODO_ACTIONS = ("report", "close")
# In a list, people open first what waits for them (they read the state under each number).
LOOKING_FOR = {"manager:inbox": "new", "manager:outbox": "on_review", "control": "on_review", "inbox": "in_progress"}
WANTED_WEIGHT = 4.0
STATE_NAMES = {
    "Новое": "new",
    "В работе": "in_progress",
    "На проверке": "on_review",
    "Отклонено": "declined",
    "New": "new",
    "In progress": "in_progress",
    "On review": "on_review",
    "Declined": "declined",
}
NUMBER = re.compile(r"\S+-\d{4}-\d{6}(?:/\d+)?")


class Exhausted(Exception):
    """The run's budget of updates is spent."""


@dataclass(frozen=True)
class Step:
    """One update a simulated user caused."""

    update_id: int
    user_id: int
    kind: str  # text | press
    label: str  # what it was for: inbox, open, accept, pick, report, report_text, submit, ...
    payload: str  # the text sent or the callback data pressed


class Run:
    """What the simulated users of one run share: the emulator, the budget of updates, the steps made."""

    def __init__(self, emu: TimedEmulator, completions: Completions, *, budget: int | None, timeout: float) -> None:
        self.emu = emu
        self.completions = completions
        self.left = budget
        self.timeout = timeout
        self.steps: list[Step] = []
        self.timeouts = 0

    def _take(self) -> None:
        if self.left is not None:
            if self.left <= 0:
                raise Exhausted
            self.left -= 1

    async def text(self, user: SimUser, text: str, label: str) -> bool:
        """Send `text`; True once the bot handled it (False: not within the timeout)."""
        self._take()
        await user.send_text(text)
        return await self._wait(user, "text", label, text)

    async def press(self, user: SimUser, message: StoredMessage, data: str, label: str) -> bool:
        """Press the button with callback `data` on `message`; True once the bot handled it."""
        self._take()
        await user.press_data(message, data)
        return await self._wait(user, "press", label, data)

    async def _wait(self, user: SimUser, kind: str, label: str, payload: str) -> bool:
        update_id = self.emu.last_update_of[user.id]
        self.steps.append(Step(update_id, user.id, kind, label, payload))
        if await self.completions.wait(update_id, self.timeout) is None:
            self.timeouts += 1
            return False
        return True


class Actor(Protocol):
    async def work(self) -> None: ...


def datas(message: StoredMessage) -> list[str]:
    """Callback data of the message's inline buttons."""
    return [data for _, data in message.buttons if data]


def card_actions(message: StoredMessage, order_id: int) -> dict[str, str]:
    """Action -> callback data of the order card's action buttons (`oa:<id>:<action>:<version>`)."""
    prefix = f"oa:{order_id}:"
    return {data.split(":")[2]: data for data in datas(message) if data.startswith(prefix)}


def order_of(message: StoredMessage) -> int | None:
    for data in datas(message):
        if data.startswith("oa:"):
            return int(data.split(":")[1])
    return None


def list_rows(message: StoredMessage) -> list[tuple[str, str]]:
    """(callback data, state) of each order of a list message, the state read from the row's second line."""
    lines = (message.text or "").splitlines()
    states: dict[str, str] = {}
    for line, below in itertools.pairwise(lines):
        found = NUMBER.search(line)
        if found:
            states[found.group()] = STATE_NAMES.get(below.strip().split(" · ")[0], "")
    return [
        (data, states.get(label.replace("⚠️", "").strip(), ""))
        for label, data in message.buttons
        if data and data.startswith("ov:") and data.endswith(":c")
    ]


def sim_user(emu: TimedEmulator, person: Person) -> SimUser:
    last, first, *_ = [*person.full_name.split(), "", ""]
    return emu.user(person.telegram_id, first_name=first or "User", last_name=last or None, language_code="ru")


class MunUser:
    """A member of staff using munorders (see the module docstring)."""

    def __init__(self, run: Run, sim: SimUser, person: Person, pickable: frozenset[int], rng: random.Random) -> None:
        self.run = run
        self.emu = run.emu
        self.sim = sim
        self.person = person
        self.pickable = pickable  # database ids of simulated users: the executors a head prefers to pick
        self.rng = rng
        self.responses: set[int] = set()  # bot messages that answered this user (the rest are notifications)
        self.scanned = 0
        self.todo: deque[int] = deque()

    async def work(self) -> None:
        try:
            while True:
                await self.session()
        except Exhausted:
            pass

    async def session(self) -> None:
        self._scan_notifications()
        if self.todo and self.rng.random() < FROM_NOTIFICATION and await self._from_notification():
            return
        await self._browse()

    # --- finding the bot's messages ------------------------------------------------------------------------

    def _mark(self) -> int:
        messages = self.emu.messages(self.sim.id, include_deleted=True)
        return messages[-1].message_id if messages else 0

    def _response(self, after: int, wanted: Callable[[StoredMessage], bool]) -> StoredMessage | None:
        """The latest bot message after message `after` that satisfies `wanted` (remembered as a response)."""
        found = None
        for message in self.emu.bot_messages(self.sim.id):
            if message.message_id > after and wanted(message):
                found = message
        if found is not None:
            self.responses.add(found.message_id)
        return found

    def _card_after(self, after: int, order_id: int) -> StoredMessage | None:
        return self._response(after, lambda m: f"ov:{order_id}:h" in datas(m))

    def _scan_notifications(self) -> None:
        for message in self.emu.bot_messages(self.sim.id):
            if message.message_id <= self.scanned:
                continue
            self.scanned = message.message_id
            if message.message_id in self.responses:
                continue
            order_id = order_of(message)
            if order_id is not None and any(a in card_actions(message, order_id) for a in TODO_ACTIONS):
                self.todo.append(message.message_id)

    # --- sessions ------------------------------------------------------------------------------------------

    async def _from_notification(self) -> bool:
        while self.todo:
            message = self.emu.message(self.sim.id, self.todo.popleft())
            order_id = order_of(message)
            if order_id is None:
                continue
            actions = card_actions(message, order_id)
            wanted = [a for a in TODO_ACTIONS if a in actions]
            if wanted:
                await self._do(self.rng.choice(wanted), message, order_id, actions)
                return True
        return False

    def _box(self) -> str:
        r = self.rng.random()
        if self.person.is_manager:
            return "outbox" if r < 0.3 else "inbox"
        if self.person.role == "controller":
            return "control" if r < 0.5 else "inbox"
        return "inbox"

    async def _browse(self) -> None:
        box = self._box()
        mark = self._mark()
        if not await self.run.text(self.sim, f"/{box}", box):
            return
        listing = self._response(mark, lambda m: any(d.startswith("ls:") for d in datas(m)))
        if listing is None:
            return
        rows = list_rows(listing)
        if not rows:
            return
        wanted = LOOKING_FOR.get(f"manager:{box}" if self.person.is_manager else box)
        weights = [WANTED_WEIGHT if state == wanted else 1.0 for _, state in rows]
        data = self.rng.choices([d for d, _ in rows], weights=weights)[0]
        order_id = int(data.split(":")[1])
        mark = self._mark()
        if not await self.run.press(self.sim, listing, data, "open"):
            return
        card = self._card_after(mark, order_id)
        if card is not None:
            actions = card_actions(card, order_id)
            await self._do(self._choose(actions), card, order_id, actions)

    def _choose(self, actions: dict[str, str]) -> str:
        weights = dict(WEIGHTS)
        if self.person.is_manager:
            weights["report"] = MANAGER_REPORT_WEIGHT
        options = [(a, w) for a, w in weights.items() if a == "history" or a in actions]
        return self.rng.choices([a for a, _ in options], weights=[w for _, w in options])[0]

    async def _do(self, action: str, card: StoredMessage, order_id: int, actions: dict[str, str]) -> None:
        run, sim = self.run, self.sim
        if action == "history":
            await run.press(sim, card, f"ov:{order_id}:h", "history")
        elif action == "close":
            await run.press(sim, card, actions["close"], "close")  # the card is edited in place
        elif action == "accept":
            if not await run.press(sim, card, actions["accept"], "accept"):
                return
            picker = self.emu.message(sim.id, card.message_id)  # the card's buttons became the executor picker
            picks = [d for d in datas(picker) if d.startswith(f"px:{order_id}:")]
            named = [d for d in picks if not d.endswith(":0")]
            ours = [d for d in named if int(d.rsplit(":", 1)[1]) in self.pickable]
            if picks:
                await run.press(sim, picker, self.rng.choice(ours or named or picks), "pick")
        elif action in ("comment", "report"):
            mark = self._mark()
            if not await run.press(sim, card, actions[action], action):
                return
            if self._response(mark, lambda m: "in:0" in datas(m)) is None:  # the prompt, with «Cancel»
                return
            mark = self._mark()
            if not await run.text(sim, self.rng.choice(COMMENTS if action == "comment" else REPORTS), action + "_text"):
                return
            if action == "comment":
                self._card_after(mark, order_id)
                return
            ready = self._response(mark, lambda m: "in:1" in datas(m))  # «Got it», with «Submit»
            if ready is None:
                return
            mark = self._mark()
            if await run.press(sim, ready, "in:1", "submit"):
                self._card_after(mark, order_id)


class ReplayUser:
    """Replays a munorders user's sequence of update kinds to the bare bot (texts as sent, presses on the
    bare bot's latest button)."""

    def __init__(self, run: Run, sim: SimUser, script: list[Step]) -> None:
        self.run = run
        self.sim = sim
        self.script = script

    async def work(self) -> None:
        for step in self.script:
            if step.kind == "text":
                await self.run.text(self.sim, step.payload, step.label)
                continue
            message = self.run.emu.last_bot_message(self.sim.id)
            buttons = datas(message) if message is not None else []
            if message is None or not buttons:
                await self.run.text(self.sim, step.label, step.label)
            else:
                await self.run.press(self.sim, message, buttons[0], step.label)
