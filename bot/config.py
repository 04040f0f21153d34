"""Settings from the environment and `.env` (pydantic-settings). Loaded once in main() and passed down."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class WebhookSettings(BaseModel):
    """Webhook mode (several instances behind a reverse proxy); polling when `url` is empty."""

    url: str = ""
    path: str = "/telegram/webhook"
    host: str = "127.0.0.1"
    port: int = 8080
    secret: SecretStr = SecretStr("")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", env_nested_delimiter="__", extra="ignore"
    )

    bot_token: SecretStr = SecretStr("")
    database_url: str = f"sqlite+aiosqlite:///{ROOT / 'data' / 'munorders.db'}"
    redis_url: str = ""
    timezone: str = "Europe/Moscow"
    default_language: str = "ru"
    # Base URL of the Bot API: real Telegram by default, the emulator or a local Bot API server otherwise.
    telegram_api_url: str = ""
    number_prefix: str = "П"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    page_size: int = 8
    # Updates handled at once (long polling); more only makes the event loop slower for each of them.
    max_concurrent_updates: int = 24
    # How often the notification sender looks at the outbox when nobody woke it (seconds).
    outbox_poll_interval: float = 1.0
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    locales_dir: Path = ROOT / "locales"

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, v: object) -> object:
        if isinstance(v, str):
            v = v.strip().strip("[]")
            return [int(x) for x in v.replace(";", ",").split(",") if x.strip()]
        if isinstance(v, int):
            return [v]
        return v

    @field_validator("timezone")
    @classmethod
    def _valid_tz(cls, v: str) -> str:
        ZoneInfo(v)
        return v

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
