"""pytest fixtures: import them into conftest.py (``from tests.emulator.fixtures import emulator``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from .server import TelegramEmulator


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[TelegramEmulator]:
    """A started emulator; at teardown fails the test if the emulator recorded problems, then stops it."""
    emu = TelegramEmulator(token="123456:TEST", bot_username="munorders_bot", bot_id=123456)
    await emu.start()
    try:
        yield emu
        emu.assert_no_failures()
    finally:
        await emu.stop()
