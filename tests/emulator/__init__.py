"""Telegram Bot API emulator for tests and benchmarks (see README.md in this package)."""

from .media import tiny_png
from .models import (
    ApiCall,
    CallbackAnswer,
    CallbackQueryHandle,
    EmulatorError,
    EmulatorTimeout,
    SimGroup,
    SimUser,
    StoredFile,
    StoredMessage,
)
from .server import ApiError, RateLimits, TelegramEmulator

__all__ = [
    "ApiCall",
    "ApiError",
    "CallbackAnswer",
    "CallbackQueryHandle",
    "EmulatorError",
    "EmulatorTimeout",
    "RateLimits",
    "SimGroup",
    "SimUser",
    "StoredFile",
    "StoredMessage",
    "TelegramEmulator",
    "tiny_png",
]
