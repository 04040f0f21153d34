"""import-org: the demo organisation loads, a second import changes nothing, a changed file updates, bad input is
refused before anything is written."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.errors import BadInput
from bot.domain.policy import Role
from bot.services import users
from bot.services.orgimport import ImportStats, import_org
from storage.models import Department, User
from storage.uow import UnitOfWork
from tests import factories as f


async def test_demo_import_is_idempotent(uow: UnitOfWork) -> None:
    data = f.load_demo()
    assert await import_org(uow, data) == ImportStats(21, 0, 97, 0)
    assert await import_org(uow, data) == ImportStats(0, 0, 0, 0)
    assert await f.count(uow, Department) == 21
    assert await f.count(uow, User) == 97

    depts = {d.code: d for d in await f.all_departments(uow)}
    assert depts["GLAVA"].parent_id is None
    assert depts["BLAG"].parent_id == depts["ZHKH"].id
    assert depts["HR"].parent_id == depts["ORG"].id
    assert depts["ZHKH"].name_en == "Housing and utilities directorate"
    people = {u.telegram_id: u for u in await f.all_users(uow)}
    for e in data["employees"]:
        u = people[e["telegram_id"]]
        assert (u.full_name, u.role, u.department_id, u.position, u.status) == (
            e["full_name"],
            e["role"],
            depts[e["department"]].id,
            e["position"],
            "active",
        )
        assert not u.started  # nobody opened the bot yet
    # The tree as the policy sees it.
    zhkh = await f.actor(uow, f.head_of(data, "ZHKH"))
    assert zhkh.subtree == frozenset(depts[c].id for c in ("ZHKH", "BLAG", "UK", "ROADS"))


async def test_reimport_updates_names_roles_departments_and_parents(uow: UnitOfWork) -> None:
    data = f.load_demo()
    await import_org(uow, data)
    changed = f.load_demo()
    dept = next(d for d in changed["departments"] if d["code"] == "PRESS")
    dept["name"] = "Пресс-служба (новое название)"
    dept["parent"] = "ORG"
    person = next(e for e in changed["employees"] if e["department"] == "LAW" and e["role"] == "employee")
    person["role"] = "deputy"
    person["full_name"] = "Новая Фамилия Имя Отчество"
    mover = next(e for e in changed["employees"] if e["department"] == "EDU" and e["role"] == "employee")
    mover["department"] = "CULT"
    changed["departments"].append({"code": "NEW", "name": "Новый отдел", "parent": "GLAVA"})
    changed["employees"].append(
        {"telegram_id": 199999999, "full_name": "Новичок", "department": "NEW", "role": "head", "position": "x"}
    )

    assert await import_org(uow, changed) == ImportStats(1, 1, 1, 2)
    assert await f.count(uow, Department) == 22 and await f.count(uow, User) == 98
    codes = await f.dept_ids(uow)
    depts = {d.code: d for d in await f.all_departments(uow)}
    assert depts["PRESS"].name == "Пресс-служба (новое название)" and depts["PRESS"].parent_id == codes["ORG"]
    info = await users.get_user(uow, person["telegram_id"])
    assert info is not None and info.role == Role.DEPUTY and info.full_name == "Новая Фамилия Имя Отчество"
    moved = await users.get_user(uow, mover["telegram_id"])
    assert moved is not None and moved.department_id == codes["CULT"]
    # The ORG head now manages PRESS too.
    org_head = await f.actor(uow, f.head_of(data, "ORG"))
    assert codes["PRESS"] in org_head.subtree
    # Importing the same changed file again is a no-op.
    assert await import_org(uow, changed) == ImportStats(0, 0, 0, 0)


async def test_reimport_activates_a_pending_user(uow: UnitOfWork, ctx: Any) -> None:
    await import_org(uow, f.load_demo())
    result = await users.start(ctx, uow, users.TelegramProfile(555, "Просится"), None)
    assert result.outcome == "pending"
    data = f.load_demo()
    data["employees"].append({"telegram_id": 555, "full_name": "Принят Импортом", "department": "IT"})
    assert await import_org(uow, data) == ImportStats(0, 0, 0, 1)
    info = await users.get_user(uow, 555)
    assert info is not None and info.status == "active" and info.role == Role.EMPLOYEE and info.active


def _demo_with(**change: Any) -> dict[str, Any]:
    data = f.load_demo()
    data.update(change)
    return data


def _bad_employee(**fields: Any) -> dict[str, Any]:
    data = f.load_demo()
    data["employees"][5].update(fields)
    return data


def _missing(key: str) -> dict[str, Any]:
    data = f.load_demo()
    del data["employees"][5][key]
    return data


@pytest.mark.parametrize(
    "data",
    [
        pytest.param([], id="not-an-object"),
        pytest.param("departments", id="a-string"),
        pytest.param({"employees": []}, id="no-departments"),
        pytest.param({"departments": {"GLAVA": "x"}}, id="departments-not-a-list"),
        pytest.param({"departments": [{"code": "A"}]}, id="department-without-name"),
        pytest.param({"departments": [{"name": "A"}]}, id="department-without-code"),
        pytest.param({"departments": ["GLAVA"]}, id="department-not-an-object"),
        pytest.param({"departments": [{"code": "A", "name": "A", "parent": "Z"}]}, id="unknown-parent"),
        pytest.param(_bad_employee(department="NOPE"), id="unknown-department"),
        pytest.param(_bad_employee(role="boss"), id="unknown-role"),
        pytest.param(_bad_employee(telegram_id="100000006"), id="telegram-id-not-int"),
        pytest.param(_missing("telegram_id"), id="no-telegram-id"),
        pytest.param(_missing("full_name"), id="no-name"),
    ],
)
async def test_invalid_import_is_refused_and_writes_nothing(uow: UnitOfWork, data: Any) -> None:
    with pytest.raises(BadInput) as e:
        await import_org(uow, data)
    assert e.value.code == "import_format"
    assert await f.count(uow, Department) == 0
    assert await f.count(uow, User) == 0


async def test_departments_changed_by_an_import_are_seen_at_once(uow: UnitOfWork) -> None:
    demo = f.load_demo()
    await import_org(uow, demo)
    async with uow.reading() as reader:
        before = {d.code: d.name for d in (await reader.departments.tree()).values()}
    assert before["ROADS"] == "Отдел транспорта и дорожного хозяйства"
    changed = {
        **demo,
        "departments": [
            *[{**d, "name": "Дорожный отдел"} if d["code"] == "ROADS" else d for d in demo["departments"]],
            {"code": "NEW", "name": "Новый отдел", "parent": "ZHKH"},
        ],
    }
    await import_org(uow, changed)
    async with uow.reading() as reader:
        after = {d.code: d.name for d in (await reader.departments.tree()).values()}
    assert after["ROADS"] == "Дорожный отдел" and after["NEW"] == "Новый отдел"
