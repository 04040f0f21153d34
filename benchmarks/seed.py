"""The benchmark database: the schema, the demo organisation plus synthetic staff, and many orders in bulk.

Orders are written with SQLAlchemy Core executemany in one transaction (one "created" event each), so
100,000 orders take seconds. A small "hot" set per department is the most overdue, hence on the first page
of the lists the simulated users open, in states where accepting, reporting and closing are possible.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, event, insert, select
from sqlalchemy.engine import Connection

from bot.services.orgimport import import_org
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import Counter, Department, Order, OrderEvent, User
from storage.uow import UnitOfWork

_ROOT = Path(__file__).resolve().parents[1]
DEMO_PATHS = (
    _ROOT.parent / "shared" / "data" / "municipality_demo.json",
    _ROOT / "tests" / "data" / "municipality_demo.json",
)
SYNTHETIC_FIRST_ID = 200_000_001
CHUNK = 5_000
MANAGER_ROLES = ("head", "deputy")

_SURNAMES = (
    "Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов Волков "
    "Алексеев Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев Орлов Андреев Макаров Зайцев"
).split()
_FIRST_M = "Александр Сергей Дмитрий Андрей Алексей Максим Иван Михаил Николай Владимир".split()
_FIRST_F = "Елена Ольга Наталья Татьяна Ирина Анна Мария Светлана Юлия Екатерина".split()
_PATR_M = "Александрович Сергеевич Викторович Игоревич Петрович Николаевич".split()
_PATR_F = "Александровна Сергеевна Викторовна Игоревна Петровна Николаевна".split()

# State shares of orders whose executors still have work to do ("open" here includes declined).
_OPEN_STATES = (("new", 25), ("in_progress", 45), ("on_review", 22), ("declined", 8))
_FINAL_STATES = (("done", 90), ("cancelled", 10))
_HOT_STATES = (("new", 50), ("in_progress", 30), ("on_review", 20))
_PRIORITIES = (("low", 10), ("normal", 60), ("high", 22), ("urgent", 8))


@dataclass(frozen=True)
class Person:
    """A simulated user: their Telegram id and what the database knows about them."""

    telegram_id: int
    user_id: int
    full_name: str
    role: str
    department_id: int

    @property
    def is_manager(self) -> bool:
        return self.role in MANAGER_ROLES


@dataclass(frozen=True)
class SeedResult:
    url: str
    people: list[Person]  # the simulated users
    staff: int  # everybody in the organisation
    departments: int
    orders: int
    hot_orders: int
    seconds: float


def load_demo() -> dict[str, Any]:
    for path in DEMO_PATHS:
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return data
    raise FileNotFoundError("municipality_demo.json not found in " + ", ".join(map(str, DEMO_PATHS)))


def with_synthetic_staff(demo: dict[str, Any], users: int, rng: random.Random) -> dict[str, Any]:
    """The demo organisation, plus synthetic employees (about one in seven a deputy head) up to `users`."""
    employees = [dict(e) for e in demo["employees"]]
    codes = [d["code"] for d in demo["departments"]]
    for i in range(max(0, users - len(employees))):
        female = rng.random() < 0.6
        role = "deputy" if i % 7 == 3 else "employee"
        employees.append(
            {
                "telegram_id": SYNTHETIC_FIRST_ID + i,
                "full_name": " ".join(
                    (
                        rng.choice(_SURNAMES) + ("а" if female else ""),
                        rng.choice(_FIRST_F if female else _FIRST_M),
                        rng.choice(_PATR_F if female else _PATR_M),
                    )
                ),
                "position": "Заместитель начальника" if role == "deputy" else "Ведущий специалист",
                "department": codes[i % len(codes)],
                "role": role,
            }
        )
    return {**demo, "employees": employees}


async def _import(url: str, org: dict[str, Any]) -> None:
    engine = make_engine(url)
    try:
        await import_org(UnitOfWork(make_session_factory(engine)), org)
    finally:
        await engine.dispose()


def _weighted(rng: random.Random, table: Sequence[tuple[str, int]]) -> str:
    """A key of `table` drawn with the given weights (cheaper than random.choices for one draw)."""
    x = rng.random() * sum(w for _, w in table)
    for key, weight in table:
        x -= weight
        if x < 0:
            return key
    return table[-1][0]


class OrderPlan:
    """Generates order rows (and their "created" events) chunk by chunk, ids 1..n in creation order."""

    def __init__(
        self,
        rng: random.Random,
        now: datetime,
        number_prefix: str,
        staff: Sequence[Person],
        sim: Sequence[Person],
        dept_codes: dict[int, str],
        samples: Sequence[dict[str, Any]],
    ) -> None:
        self.rng = rng
        self.now = now
        self.hot_count = 0
        self.prefix = number_prefix
        self.codes = dept_codes
        self.samples = samples or [{"title": "Подготовить информацию", "text": "Подготовить и направить."}]
        self.depts = sorted(dept_codes)
        self.managers = [p for p in staff if p.is_manager]
        self.employees_of: dict[int, list[int]] = {d: [] for d in self.depts}
        for p in staff:
            if p.role == "employee":
                self.employees_of[p.department_id].append(p.user_id)
        for d in self.depts:  # a department without employees: its managers execute
            if not self.employees_of[d]:
                self.employees_of[d] = [p.user_id for p in staff if p.department_id == d] or [staff[0].user_id]
        self.controllers = [p.user_id for p in staff if p.role == "controller"]
        self.sim_managers = [p for p in sim if p.is_manager]
        self.sim_of: dict[int, list[Person]] = {d: [] for d in self.depts}
        for p in sim:
            self.sim_of[p.department_id].append(p)

    def _issuer(self, executor_dept: int, pool: Sequence[Person]) -> Person:
        candidates = [p for p in pool if p.department_id != executor_dept] or list(self.managers)
        return self.rng.choice(candidates)

    def _hot(self, order_id: int, dept: int) -> dict[str, Any]:
        rng = self.rng
        issuer = self._issuer(dept, self.sim_managers)
        state = _weighted(rng, _HOT_STATES)
        executor = None
        if state != "new":
            sim_staff = [p.user_id for p in self.sim_of[dept] if not p.is_manager]
            executor = rng.choice(sim_staff or self.employees_of[dept])
        due = self.now - timedelta(days=rng.uniform(25, 70))
        created = due - timedelta(days=rng.uniform(5, 20))
        return self._row(order_id, issuer, dept, executor, None, state, created, due, None)

    def _bulk(self, order_id: int, total: int) -> dict[str, Any]:
        rng = self.rng
        created = self.now - timedelta(days=365 - 364 * order_id / total, hours=rng.uniform(0, 2))
        age = (self.now - created).days
        dept = rng.choice(self.depts)
        issuer = self._issuer(dept, self.managers)
        open_share = 0.03 if age > 60 else 0.35 if age > 20 else 0.8
        due = created + timedelta(days=rng.uniform(5, 30))
        closed = None
        if rng.random() < open_share:
            state = _weighted(rng, _OPEN_STATES)
            if due < self.now - timedelta(days=20):  # an old open order had its deadline extended
                due = self.now - timedelta(days=rng.uniform(0, 20))
        else:
            state = _weighted(rng, _FINAL_STATES)
            closed = min(created + timedelta(days=rng.uniform(1, 30)), self.now - timedelta(hours=1))
        executor = rng.choice(self.employees_of[dept]) if state in ("in_progress", "on_review", "done") else None
        controller = rng.choice(self.controllers) if self.controllers and rng.random() < 0.08 else None
        return self._row(order_id, issuer, dept, executor, controller, state, created, due, closed)

    def _row(
        self,
        order_id: int,
        issuer: Person,
        dept: int,
        executor: int | None,
        controller: int | None,
        state: str,
        created: datetime,
        due: datetime,
        closed: datetime | None,
    ) -> dict[str, Any]:
        sample = self.samples[order_id % len(self.samples)]
        number = f"{self.prefix}-{order_id:06d}"
        title, body = sample["title"][:200], sample["text"]
        return {
            "id": order_id,
            "number": number,
            "parent_id": None,
            "title": title,
            "text": body,
            "search_text": f"{number} {title} {body}".casefold(),
            "priority": _weighted(self.rng, _PRIORITIES),
            "state": state,
            "issuer_id": issuer.user_id,
            "issuer_department_id": issuer.department_id,
            "executor_department_id": dept,
            "executor_id": executor,
            "controller_id": controller,
            "due_at": due,
            "extension_due_at": None,
            "created_at": created,
            "updated_at": closed or created,
            "closed_at": closed,
            "source": "telegram",
            "version": 1,
        }

    def chunks(
        self, total: int, hot_per_department: int
    ) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
        """(orders, events) chunks; hot orders are spread over the id range, round robin over departments."""
        hot_depts = [d for d in self.depts if self.sim_of[d]] if self.sim_managers else []
        hot_total = min(total // 2, hot_per_department * len(hot_depts))
        hot_ids = dict(zip(sorted(self.rng.sample(range(1, total + 1), hot_total)), range(hot_total), strict=True))
        self.hot_count = hot_total
        for start in range(1, total + 1, CHUNK):
            orders: list[dict[str, Any]] = []
            events: list[dict[str, Any]] = []
            for oid in range(start, min(start + CHUNK, total + 1)):
                k = hot_ids.get(oid)
                row = self._hot(oid, hot_depts[k % len(hot_depts)]) if k is not None else self._bulk(oid, total)
                orders.append(row)
                events.append(
                    {
                        "id": oid,
                        "order_id": oid,
                        "actor_id": row["issuer_id"],
                        "type": "created",
                        "payload": {"departments": [self.codes[row["executor_department_id"]]]},
                        "created_at": row["created_at"],
                    }
                )
            yield orders, events


def _people(conn: Connection) -> list[Person]:
    q = select(User.telegram_id, User.id, User.full_name, User.role, User.department_id).where(
        User.status == "active", User.department_id.is_not(None), User.telegram_id.is_not(None)
    )
    rows = conn.execute(q.order_by(User.id))
    return [
        Person(tg, uid, name, role, dept) for tg, uid, name, role, dept in rows if tg is not None and dept is not None
    ]


def seed(
    path: Path,
    *,
    orders: int,
    users: int,
    hot_per_department: int = 40,
    number_prefix: str = "П",
    timezone: str = "Europe/Moscow",
    rng_seed: int = 2026,
) -> SeedResult:
    """Create the database at `path` and fill it; returns the simulated users (`users` of the staff)."""
    started = time.perf_counter()
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    rng = random.Random(rng_seed)
    demo = load_demo()
    org = with_synthetic_staff(demo, users, rng)
    asyncio.run(_import(url, org))

    now = datetime.now(UTC)
    year = now.astimezone(ZoneInfo(timezone)).year
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        # Bulk loading a fresh file: no journal; the bot's engine turns WAL back on when it connects.
        cur.execute("PRAGMA journal_mode=OFF")
        cur.execute("PRAGMA synchronous=OFF")
        cur.close()

    try:
        with engine.begin() as conn:
            staff = _people(conn)
            chosen = {e["telegram_id"] for e in org["employees"]}
            if users < len(chosen):
                chosen = set(rng.sample(sorted(chosen), users))
            sim = [p for p in staff if p.telegram_id in chosen]
            codes = {did: code for did, code in conn.execute(select(Department.id, Department.code))}
            plan = OrderPlan(rng, now, f"{number_prefix}-{year}", staff, sim, codes, demo.get("orders", []))
            for order_rows, event_rows in plan.chunks(orders, hot_per_department):
                conn.execute(insert(Order), order_rows)
                conn.execute(insert(OrderEvent), event_rows)
            conn.execute(insert(Counter).values(name=f"{number_prefix}-{year}", value=orders))
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    finally:
        engine.dispose()
    return SeedResult(url, sim, len(staff), len(codes), orders, plan.hot_count, time.perf_counter() - started)
