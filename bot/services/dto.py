"""Small immutable results that services hand to handlers (never ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain.policy import Actor, Role
from bot.domain.states import Action, Priority, State


@dataclass(frozen=True)
class UserInfo:
    id: int
    telegram_id: int | None
    full_name: str
    role: Role
    status: str
    department_id: int | None
    department_name: str | None
    language: str | None
    actor: Actor | None  # None unless the user is active

    @property
    def active(self) -> bool:
        return self.actor is not None


@dataclass(frozen=True)
class DepartmentInfo:
    id: int
    code: str
    name: str
    name_en: str | None
    parent_id: int | None
    chat_id: int | None
    employees_can_accept: bool = False

    def title(self, locale: str) -> str:
        return self.name_en if locale == "en" and self.name_en else self.name


@dataclass(frozen=True)
class AttachmentInfo:
    kind: str  # photo | document
    file_id: str
    file_name: str | None = None
    mime_type: str | None = None
    size: int | None = None
    file_unique_id: str | None = None


@dataclass(frozen=True)
class ChildInfo:
    id: int
    number: str
    department: DepartmentInfo | None
    state: State
    overdue: bool


@dataclass(frozen=True)
class OrderCard:
    """Everything needed to render one order for one viewer."""

    id: int
    number: str
    title: str
    text: str
    priority: Priority
    state: State
    due_at: datetime | None
    created_at: datetime
    closed_at: datetime | None
    overdue: bool
    version: int
    issuer_name: str | None
    issuer_department: DepartmentInfo | None
    executor_department: DepartmentInfo | None
    executor_name: str | None
    controller_name: str | None
    parent_number: str | None
    parent_id: int | None
    children: tuple[ChildInfo, ...] = ()
    attachments: tuple[AttachmentInfo, ...] = ()
    extension_due_at: datetime | None = None
    actions: tuple[Action, ...] = ()  # what the viewer may do now
    # What a head of the executor department may do now: the buttons of the department chat's card.
    chat_actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class OrderRow:
    id: int
    number: str
    title: str
    state: State
    priority: Priority
    due_at: datetime | None
    overdue: bool


@dataclass(frozen=True)
class OrderPage:
    items: tuple[OrderRow, ...]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class HistoryItem:
    at: datetime
    actor_name: str | None
    type: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Draft:
    """A new order as the issuer composed it."""

    title: str
    text: str
    executor_department_ids: tuple[int, ...]
    due_at: datetime
    priority: Priority = Priority.NORMAL
    controller_id: int | None = None
    attachments: tuple[AttachmentInfo, ...] = ()
    source: str = "telegram"


@dataclass(frozen=True)
class InviteInfo:
    id: int
    token: str
    department_name: str
    role: Role
    expires_at: datetime
    max_uses: int | None
    uses: int
    revoked: bool
