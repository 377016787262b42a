"""The escalation path as a flat list of pages, from a policy snapshot. Pure: no database.

A snapshot is the frozen policy (see `escalation.snapshots`). Its plan lists every page the
policy can make, in order, repeats included: one page per step, or one per target for a
round-robin step. The engine keeps a cursor into this list; the dry run and the incident page
read the same list, so what they show is what the engine does.

Timing: a step's delay is the wait before it; a round-robin step waits `round_robin_minutes`
between its targets; a repeat waits `repeat_after_minutes` after the last step and then
starts over with the first step's delay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

Snapshot = dict[str, Any]


@dataclass(frozen=True)
class Page:
    index: int  # position in the plan: the engine's cursor
    offset: timedelta  # from the start of escalation, if nobody acknowledges
    wait: timedelta  # since the previous page (or the start)
    loop: int  # 0: first pass; 1..repeat_count: repeats
    step: int  # 0-based step index
    targets: tuple[dict[str, Any], ...]  # all of the step's, or the one round-robin target
    round_robin_turn: int | None  # which target of a round-robin step, else None

    @property
    def level(self) -> int:
        """1-based level, as people say it ("escalated to level 2")."""
        return self.step + 1


def step_targets(step: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    return tuple(step.get("targets", ()))


def plan(snapshot: Snapshot) -> list[Page]:
    pages: list[Page] = []
    steps = snapshot.get("steps", [])
    if not steps:
        return pages
    offset = timedelta(0)
    for loop in range(int(snapshot.get("repeat_count", 0)) + 1):
        for number, step in enumerate(steps):
            if loop > 0 and number == 0:
                wait = timedelta(minutes=snapshot.get("repeat_after_minutes", 15))
                wait += timedelta(minutes=step["delay_minutes"])
            else:
                wait = timedelta(minutes=step["delay_minutes"])
            targets = step_targets(step)
            if step.get("round_robin") and len(targets) > 1:
                for turn, target in enumerate(targets):
                    if turn > 0:
                        wait = timedelta(minutes=step["round_robin_minutes"])
                    offset += wait
                    pages.append(Page(len(pages), offset, wait, loop, number, (target,), turn))
            else:
                offset += wait
                pages.append(Page(len(pages), offset, wait, loop, number, targets, None))
    return pages


def first_page_of_step_after(pages: list[Page], index: int) -> int | None:
    """Where "escalate now" jumps: the first page of the next level after page `index`.

    None when `index` is on the last level of the last pass: there is no next level.
    """
    current = pages[index]
    for page in pages[index + 1 :]:
        if (page.loop, page.step) != (current.loop, current.step):
            return page.index
    return None
