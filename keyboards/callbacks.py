"""One CallbackData class per kind of button. Short prefixes and typed fields keep us under 64 bytes.

Callback data is untrusted input: handlers re-check permission and state on the server every time.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class OrderAct(CallbackData, prefix="oa"):
    """An action button on an order card; `v` is the order version the card showed."""

    id: int
    a: str
    v: int


class OrderView(CallbackData, prefix="ov"):
    """Show the card (`w="c"`), its history (`"h"`) or refresh it in place (`"r"`)."""

    id: int
    w: str


class PickExecutor(CallbackData, prefix="px"):
    """Accept/assign with the chosen employee as executor (u=0: accept without naming one yet)."""

    id: int
    a: str
    v: int
    u: int


class PickForward(CallbackData, prefix="pf"):
    id: int
    v: int
    d: int


class InputDone(CallbackData, prefix="in"):
    """Submit (`ok=1`) or abandon (`ok=0`) the text/files being collected for an action."""

    ok: int


class ListNav(CallbackData, prefix="ls"):
    """A page of /inbox, /outbox, /control or a search, with filters."""

    box: str
    st: str = ""  # "", "open" or a State value
    od: int = 0  # overdue only
    pr: str = ""  # priority
    p: int = 0


class PickLang(CallbackData, prefix="lg"):
    lang: str


class InviteCb(CallbackData, prefix="iv"):
    """Invite creation steps and revocation: op = d (department), r (role), u (uses: n, 0 = unlimited),
    x (revoke invite `id`)."""

    op: str
    d: int = 0
    r: str = ""
    n: int = 1
    id: int = 0


class ApproveCb(CallbackData, prefix="ap"):
    """Join request handling: op = d (pick department), r (pick role), n (reject)."""

    op: str
    u: int
    d: int = 0
    r: str = ""


class HelpPage(CallbackData, prefix="hp"):
    p: int
