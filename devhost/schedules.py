"""Timer triggers: NCRONTAB schedules, runOnStartup and past_due.

`Cron("0 */5 * * * *")` takes six fields (second minute hour day month day-of-week; five fields
get a leading `0`), with `*`, lists, ranges, steps and JAN..DEC / SUN..SAT names. As in NCrontab,
day-of-month and day-of-week must both match.
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from azure.functions.timer import TimerRequest

from .appmodel import FunctionInfo, resolve_setting
from .protocol import parse_stamp, stamp, utcnow
from .store import Store

log = logging.getLogger("devhost.timers")

MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
DAYS = "SUN MON TUE WED THU FRI SAT".split()
FIELDS: list[tuple[int, int, list[str]]] = [
    (0, 59, []), (0, 59, []), (0, 23, []), (1, 31, []), (1, 12, MONTHS), (0, 6, DAYS)]


def _parse_field(text: str, low: int, high: int, names: list[str]) -> set[int]:
    values: set[int] = set()
    for part in text.upper().split(","):
        for index, name in enumerate(names):
            part = part.replace(name, str(index + low))
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body in ("*", "?"):
            start, end = low, high
        elif "-" in body:
            start, end = (int(x) for x in body.split("-"))
        else:
            start = int(body)
            end = high if step_text else start
        if start < low or end > high + (1 if high == 6 else 0) or step < 1:
            raise ValueError(f"schedule field {text!r} is out of range {low}-{high}")
        values.update(v % 7 if high == 6 else v for v in range(start, end + 1, step))
    return values


class Cron:
    """A parsed NCRONTAB expression."""

    def __init__(self, expression: str) -> None:
        parts = expression.split()
        if len(parts) == 5:
            parts = ["0"] + parts
        if len(parts) != 6:
            raise ValueError(f"schedule {expression!r}: expected six NCRONTAB fields")
        (self.seconds, self.minutes, self.hours, self.days, self.months,
         self.weekdays) = (_parse_field(p, *f) for p, f in zip(parts, FIELDS))

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment`."""
        t = moment.replace(microsecond=0) + timedelta(seconds=1)
        limit = t + timedelta(days=366 * 8)
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0, second=0) + timedelta(days=32)).replace(
                    day=1)
            elif t.day not in self.days or (t.weekday() + 1) % 7 not in self.weekdays:
                t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t = t.replace(second=0) + timedelta(minutes=1)
            elif t.second not in self.seconds:
                t += timedelta(seconds=1)
            else:
                return t
        raise ValueError("schedule never fires")


class TimerTriggers:
    """Runs each timer function on its schedule; `fire` runs one by hand."""

    def __init__(self, store: Store, timers: dict[str, FunctionInfo],
                 run: Callable[[FunctionInfo, TimerRequest], Awaitable[Any]]) -> None:
        self.store, self.timers, self.run = store, timers, run
        self.tasks: list[asyncio.Task[None]] = []
        self.disabled = os.environ.get("DEVHOST_DISABLE_TIMERS", "").lower() in ("1", "true")

    def _enabled(self, name: str) -> bool:
        flag = os.environ.get(f"AzureWebJobs.{name}.Disabled", "").lower()
        return not self.disabled and flag not in ("1", "true")

    def start(self) -> None:
        if self.disabled:
            log.info("timer triggers are disabled (DEVHOST_DISABLE_TIMERS)")
        persisted = self.store.timer_triggers()
        for name, info in self.timers.items():
            if self._enabled(name):
                cron = Cron(resolve_setting(info.trigger_binding["schedule"]))
                self.tasks.append(asyncio.create_task(
                    self._loop(info, cron, persisted.get(name))))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def fire(self, info: FunctionInfo, past_due: bool = False,
                   last: datetime | None = None, next_due: datetime | None = None) -> None:
        status = {"Last": stamp(last) if last else None,
                  "Next": stamp(next_due) if next_due else None, "LastUpdated": stamp()}
        try:
            await self.run(info, TimerRequest(past_due=past_due, schedule_status=status,
                                              schedule={"AdjustForDST": True}))
            log.info("timer %s ran (past_due=%s)", info.name, past_due)
        except Exception:
            log.exception("timer function %s failed", info.name)

    async def _loop(self, info: FunctionInfo, cron: Cron, persisted: str | None) -> None:
        now = utcnow()
        last: datetime | None = None
        if persisted is not None and parse_stamp(persisted) < now:
            await self.fire(info, past_due=True, next_due=cron.next_after(now))
            last = now
        elif info.trigger_binding.get("runOnStartup"):
            await self.fire(info, next_due=cron.next_after(now))
            last = now
        while True:
            due = cron.next_after(utcnow())
            with self.store.tx() as tx:
                tx.set_timer_trigger(info.name, stamp(due))
            await asyncio.sleep(max(0.0, (due - utcnow()).total_seconds()))
            await self.fire(info, past_due=(utcnow() - due).total_seconds() > 1, last=last,
                            next_due=cron.next_after(due))
            last = due
