"""The new-order dialog's keyboards and department tree helpers: pure, no bot, no database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n

from bot.domain.states import Priority
from bot.services.dto import DepartmentInfo
from keyboards import new_order as kb


def dept(id_: int, code: str, name: str, name_en: str | None, parent: int | None) -> DepartmentInfo:
    return DepartmentInfo(id_, code, name, name_en, parent, None)


TREE = [
    dept(1, "GLAVA", "Глава городского округа", "Head of the municipality", None),
    dept(2, "ZHKH", "Управление ЖКХ", "Housing and utilities directorate", 1),
    dept(3, "ROADS", "Отдел дорожного хозяйства", "Transport and roads division", 2),
    dept(4, "BLAG", "Отдел благоустройства", "Public amenities division", 2),
    dept(5, "FIN", "Финансовое управление", None, 1),
    *(dept(10 + i, f"D{i}", f"Отдел {i}", f"Division {i}", 1) for i in range(10)),
]


@pytest.fixture(autouse=True)
def english(tmp_path: Path) -> Iterator[None]:
    i18n = I18n(path=tmp_path, default_locale="en")
    with i18n.context(), i18n.use_locale("en"):
        yield


def buttons(markup: InlineKeyboardMarkup) -> list[tuple[str, str]]:
    return [(b.text, b.callback_data or "") for row in markup.inline_keyboard for b in row]


def test_every_callback_fits_telegram_limit() -> None:
    big = 2**40
    samples = [
        kb.DeptToggle(d=big),
        kb.DeptNav(d=big, p=999, s=1),
        kb.DeadlinePick(q="tomorrow"),
        kb.PriorityPick(p="urgent"),
        kb.ControllerPick(u=big),
        kb.ControllerPage(p=999),
        kb.EditStep(s="prio"),
        kb.DialogAct(a="cancel"),
    ]
    assert {type(s) for s in samples} == set(kb.ALL_CALLBACKS)
    assert len({c.__prefix__ for c in kb.ALL_CALLBACKS}) == len(kb.ALL_CALLBACKS)
    for s in samples:
        packed = s.pack()
        assert len(packed.encode()) <= 64
        assert type(s).unpack(packed) == s


def test_browsing_starts_at_the_single_root_and_shows_it_with_its_children() -> None:
    assert kb.top_node(TREE) == 1
    assert [d.id for d in kb.level(TREE, 1)] == [1, 2, 5, *range(10, 20)]
    assert [d.id for d in kb.level(TREE, 2)] == [2, 3, 4]
    assert [d.id for d in kb.level(TREE, 0)] == [1]
    assert kb.parent_node(TREE, 1) is None
    assert kb.parent_node(TREE, 2) == 1
    assert [d.code for d in kb.path(TREE, 3)] == ["GLAVA", "ZHKH", "ROADS"]


def test_search_is_case_insensitive_over_name_english_name_and_code() -> None:
    assert [d.code for d in kb.search(TREE, "roads")] == ["ROADS"]
    assert [d.code for d in kb.search(TREE, "ДОРОЖН")] == ["ROADS"]
    assert [d.code for d in kb.search(TREE, "fin")] == ["FIN"]
    assert kb.search(TREE, "  ") == []
    assert kb.search(TREE, "nothing like this") == []


def test_page_of_clamps_the_page() -> None:
    items = list(range(20))
    assert kb.page_of(items, 0) == (list(range(8)), 0, 3)
    assert kb.page_of(items, 7) == ([16, 17, 18, 19], 2, 3)
    assert kb.page_of(items, -3)[1] == 0
    assert kb.page_of([], 5) == ([], 0, 1)


def test_department_keyboard_toggles_opens_pages_and_done() -> None:
    markup = kb.departments_keyboard(TREE, [2], node=1, page=0, query="", locale="en")
    got = buttons(markup)
    texts = [t for t, _ in got]
    assert "⬜️ Head of the municipality" in texts  # the level's own node can be chosen
    assert "☑️ Housing and utilities directorate" in texts
    assert "⬜️ Финансовое управление" in texts  # no English name: the Russian one
    # ZHKH has children: it can be opened; the level's own node cannot be opened again.
    assert ("📂 ›", kb.DeptNav(d=2).pack()) in got
    assert kb.DeptNav(d=1).pack() not in [d for _, d in got]
    toggles = [d for _, d in got if d.startswith("nd:")]
    assert len(toggles) == kb.PAGE_SIZE
    assert any(d == kb.DeptNav(d=1, p=1, s=0).pack() for _, d in got)  # next page
    assert ("✅ Done (1)", kb.DialogAct(a="done").pack()) in got
    assert got[-1] == ("✖️ Cancel", kb.DialogAct(a="cancel").pack())
    assert not any(t == "« Up" for t in texts)  # already at the top


def test_department_keyboard_without_selection_has_no_done_and_lower_levels_go_up() -> None:
    got = buttons(kb.departments_keyboard(TREE, [], node=2, page=0, query="", locale="ru"))
    assert not any(d == kb.DialogAct(a="done").pack() for _, d in got)
    assert ("« Up", kb.DeptNav(d=1).pack()) in got
    assert "⬜️ Отдел дорожного хозяйства" in [t for t, _ in got]


def test_department_keyboard_search_results_page_and_go_back() -> None:
    got = buttons(kb.departments_keyboard(TREE, [], node=1, page=0, query="division", locale="en"))
    toggles = [t for t, d in got if d.startswith("nd:")]
    assert len(toggles) == kb.PAGE_SIZE  # 2 + 10 matches, paged
    assert any(d == kb.DeptNav(d=1, p=1, s=1).pack() for _, d in got)
    assert ("« Back to the list", kb.DeptNav(d=1).pack()) in got


def test_step_keyboards() -> None:
    deadline = buttons(kb.deadline_keyboard(editing=False))
    assert [d for _, d in deadline[:4]] == [kb.DeadlinePick(q=q).pack() for q in ("today", "tomorrow", "d3", "w1")]
    assert kb.DialogAct(a="back").pack() not in [d for _, d in deadline]
    assert kb.DialogAct(a="back").pack() in [d for _, d in buttons(kb.deadline_keyboard(editing=True))]

    prio = buttons(kb.priority_keyboard(Priority.HIGH, editing=False))
    assert [d for _, d in prio[:4]] == [kb.PriorityPick(p=p.value).pack() for p in Priority]
    assert prio[2][0].endswith("✓")

    people = [(100 + i, f"Person {i}") for i in range(12)]
    ctrl = buttons(kb.controller_keyboard(people, current=101, page=0, editing=False))
    assert ctrl[0] == ("No control", kb.ControllerPick(u=0).pack())
    assert ("🎯 Person 1 ✓", kb.ControllerPick(u=101).pack()) in ctrl
    assert any(d == kb.ControllerPage(p=1).pack() for _, d in ctrl)

    assert buttons(kb.text_keyboard(can_continue=False, editing=False)) == [
        ("✖️ Cancel", kb.DialogAct(a="cancel").pack())
    ]
    assert buttons(kb.text_keyboard(can_continue=True, editing=False))[0][1] == kb.DialogAct(a="next").pack()


def test_confirm_keyboard_issues_edits_every_step_and_cancels() -> None:
    data = [d for _, d in buttons(kb.confirm_keyboard())]
    assert data[0] == kb.DialogAct(a="issue").pack()
    assert {kb.EditStep(s=s.value).pack() for s in kb.Step} <= set(data)
    assert data[-1] == kb.DialogAct(a="cancel").pack()
