"""`munorders import-org FILE`: load departments, staff and roles from JSON (format of municipality_demo.json;
a department may also say `"employees_can_accept": true` to let its employees accept orders themselves).

Idempotent: departments are matched by code and users by telegram_id; a re-import updates names, parents,
positions, departments and roles, and never deletes (people who left are disabled by an admin).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.domain.errors import BadInput
from bot.domain.policy import Role
from storage.models import Department, User
from storage.uow import UnitOfWork


@dataclass(frozen=True)
class ImportStats:
    departments_created: int
    departments_updated: int
    users_created: int
    users_updated: int


def _validate(data: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if not isinstance(data, dict) or not isinstance(data.get("departments"), list):
        raise BadInput("import_format", detail="departments")
    depts = data["departments"]
    people = data.get("employees", [])
    codes = set()
    for d in depts:
        if not isinstance(d, dict) or not d.get("code") or not d.get("name"):
            raise BadInput("import_format", detail=f"department {d!r}")
        codes.add(d["code"])
    for d in depts:
        if d.get("parent") and d["parent"] not in codes:
            raise BadInput("import_format", detail=f"unknown parent {d['parent']}")
    for p in people:
        if not isinstance(p, dict) or not isinstance(p.get("telegram_id"), int) or not p.get("full_name"):
            raise BadInput("import_format", detail=f"employee {p!r}")
        if p.get("department") not in codes:
            raise BadInput("import_format", detail=f"unknown department {p.get('department')}")
        try:
            Role(p.get("role", "employee"))
        except ValueError:
            raise BadInput("import_format", detail=f"unknown role {p.get('role')}") from None
    return depts, people


async def import_org(uow: UnitOfWork, data: Any) -> ImportStats:
    depts, people = _validate(data)
    dc = du = uc = uu = 0
    async with uow:
        by_code: dict[str, Department] = {d.code: d for d in await uow.departments.all()}
        for d in depts:
            dept = by_code.get(d["code"])
            # Optional: employees may accept orders addressed to the department themselves.
            self_accept = bool(d.get("employees_can_accept", False))
            if dept is None:
                dept = Department(
                    code=d["code"], name=d["name"], name_en=d.get("name_en"), employees_can_accept=self_accept
                )
                uow.departments.add(dept)
                by_code[d["code"]] = dept
                dc += 1
            elif (dept.name, dept.name_en, dept.employees_can_accept) != (d["name"], d.get("name_en"), self_accept):
                dept.name, dept.name_en, dept.employees_can_accept = d["name"], d.get("name_en"), self_accept
                du += 1
        await uow.flush()
        for d in depts:
            parent_id = by_code[d["parent"]].id if d.get("parent") else None
            if by_code[d["code"]].parent_id != parent_id:
                by_code[d["code"]].parent_id = parent_id
        for p in people:
            user = await uow.users.by_telegram_id(p["telegram_id"])
            fields = {
                "full_name": p["full_name"],
                "position": p.get("position"),
                "department_id": by_code[p["department"]].id,
                "role": p.get("role", "employee"),
            }
            if user is None:
                uow.users.add(User(telegram_id=p["telegram_id"], status="active", **fields))
                uc += 1
            else:
                if any(getattr(user, k) != v for k, v in fields.items()) or user.status == "pending":
                    uu += 1
                for k, v in fields.items():
                    setattr(user, k, v)
                if user.status == "pending":
                    user.status = "active"
        await uow.commit()
    return ImportStats(dc, du, uc, uu)
