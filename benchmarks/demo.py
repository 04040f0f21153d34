"""A demo without Telegram: the real bot talks to the Bot API emulator on loopback, with the demo organisation,
and a scripted morning at the administration is printed as a transcript.

    make demo            (or: .venv/bin/python -m benchmarks.demo)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from bot.app import make_bot, setup_dispatcher
from bot.config import Settings
from bot.runner import run_bot
from bot.services.orgimport import import_org
from storage.migrate import upgrade_async
from storage.uow import UnitOfWork
from tests.emulator import SimUser, TelegramEmulator, tiny_png

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT.parent / "shared" / "data" / "municipality_demo.json"
if not DEMO.exists():
    DEMO = ROOT / "tests" / "data" / "municipality_demo.json"


def show(who: str, text: str) -> None:
    plain = re.sub(r"<[^>]+>", "", text)
    print(f"\n\033[1m{who}\033[0m\n  " + plain.replace("\n", "\n  "))


class Script:
    def __init__(self, emu: TelegramEmulator) -> None:
        self.emu = emu
        self.seen: dict[int, int] = {}

    async def step(self) -> None:
        await self.emu.wait_idle(timeout=15, quiet=0.4)
        for chat_id in list(self.emu._messages):
            msgs = self.emu.bot_messages(chat_id)
            for m in msgs[self.seen.get(chat_id, 0) :]:
                buttons = " ".join(f"[{label}]" for label, _d in m.buttons)
                body = m.content or ("📎 " + (m.document or {}).get("file_name", "photo"))
                show(f"bot → {self.name(chat_id)}", body + (f"\n{buttons}" if buttons else ""))
            self.seen[chat_id] = len(msgs)

    def name(self, chat_id: int) -> str:
        user = self.emu._users.get(chat_id)
        if user is not None:
            return user.full_name
        group = self.emu._groups.get(chat_id)
        return f"chat «{group.title}»" if group else str(chat_id)

    async def say(self, user: SimUser, text: str) -> None:
        show(f"{user.full_name} →", text)
        await user.send_text(text)
        await self.step()

    async def press(self, user: SimUser, label: str) -> None:
        msg = self.emu.last_bot_message(user.id)
        assert msg is not None
        show(f"{user.full_name} presses", f"[{label}]")
        await user.press(msg, label)
        await self.step()

    async def press_in(self, user: SimUser, chat_id: int, number: str, label: str) -> None:
        msg = [m for m in self.emu.bot_messages(chat_id) if number in m.content and m.buttons][-1]
        show(f"{user.full_name} presses", f"[{label}]")
        await user.press(msg, label)
        await self.step()


async def main() -> None:
    demo: dict[str, Any] = json.loads(DEMO.read_text(encoding="utf-8"))
    people = {e["telegram_id"]: e for e in demo["employees"]}
    with tempfile.TemporaryDirectory() as tmp:
        emu = TelegramEmulator(token="123456:DEMO", bot_username="munorders_bot")
        await emu.start()
        settings = Settings(
            _env_file=None,
            bot_token=emu.token,
            database_url=f"sqlite+aiosqlite:///{tmp}/demo.db",
            telegram_api_url=emu.base_url,
            outbox_poll_interval=0.2,
        )
        await upgrade_async(settings.database_url)
        app = setup_dispatcher(settings)
        stats = await import_org(UnitOfWork(app.session_factory), demo)
        print(f"Imported the demo organisation: {stats.departments_created} departments, {stats.users_created} people.")
        task = asyncio.create_task(
            run_bot(settings, bot=make_bot(settings), handle_signals=False, migrate=False, app=app)
        )

        def person(tg_id: int) -> SimUser:
            last, first, *_ = [*people[tg_id]["full_name"].split(), "", ""]
            return emu.user(tg_id, first_name=first, last_name=last, language_code="ru")

        s = Script(emu)
        glava, roads_head, worker = person(100000001), person(100000023), person(100000024)
        try:
            await s.step()
            for user in (glava, roads_head, worker):
                await s.say(user, "/start")
            group = emu.group(-1001000000100, title="Дорожники", members=[roads_head, worker])
            show(f"{roads_head.full_name} → chat «Дорожники»", "/bind")
            await roads_head.send_text("/bind", chat=group)
            await s.step()
            await s.say(glava, "/new")
            await s.say(glava, "дорож")
            await s.press(glava, "Отдел транспорта и дорожного хозяйства")
            await s.press(glava, "✅ Готово (1)")
            show(f"{glava.full_name} → (photo)", "Организовать уборку снега на ул. Ленина после снегопада")
            await glava.send_photo(tiny_png(), caption="Организовать уборку снега на ул. Ленина после снегопада")
            await s.step()
            for label in ("Далее ▶️", "Завтра", "Срочный", "Без контроля", "📨 Выдать поручение"):
                await s.press(glava, label)
            number = re.search(r"П-\d{4}-\d{6}", emu.last_bot_message(glava.id).content or "")
            assert number is not None
            await s.press_in(roads_head, roads_head.id, number.group(0), "✅ Принять")
            await s.press_in(roads_head, roads_head.id, number.group(0), people[worker.id]["full_name"])
            await s.press_in(worker, worker.id, number.group(0), "📝 Отчитаться")
            await s.say(worker, "Улица убрана, вывезено 12 машин снега")
            await s.press(worker, "📨 Отправить")
            await s.press_in(glava, glava.id, number.group(0), "🏁 Закрыть")
            await s.press_in(glava, glava.id, number.group(0), "📜 История")
        finally:
            with contextlib.suppress(RuntimeError):
                await app.dispatcher.stop_polling()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
            problems = emu.take_failures()
            await emu.stop()
        print("\nTelegram would have refused nothing." if not problems else f"\nProblems: {problems}")


if __name__ == "__main__":
    asyncio.run(main())
