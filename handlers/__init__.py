"""Feature routers. Each module exposes setup() -> Router; the order here is the order of matching."""

from __future__ import annotations

from aiogram import Router


def setup_routers() -> Router:
    from handlers import admin, common, fallback, lists, new_order, orders

    root = Router(name="handlers")
    root.include_routers(
        common.setup(),
        admin.setup(),
        lists.setup(),
        orders.setup(),
        new_order.setup(),
        fallback.setup(),
    )
    return root
