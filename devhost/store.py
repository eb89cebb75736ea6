"""SQLite state of the devhost: the task hub.

Every change is written in one transaction before the devhost acts on it (WAL journal,
synchronous=NORMAL: a killed process loses nothing that was committed). All access happens on
the event-loop thread, so there is exactly one writer.

This module owns every SQL statement of the devhost. `Store` reads; writes exist only on the
`Transaction` that `Store.tx()` opens, so nothing can be written outside a transaction. Rows
come back as the typed records below, never as sqlite rows.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple, NotRequired, TypedDict

from .protocol import RuntimeStatus, stamp

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances(
  id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL, gen INTEGER NOT NULL,
  input TEXT, output TEXT, custom_status TEXT, failure TEXT, version TEXT,
  created TEXT NOT NULL, updated TEXT NOT NULL,
  parent_id TEXT, parent_task INTEGER, parent_gen INTEGER,
  signatures TEXT NOT NULL DEFAULT '[]', next_seq INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS instances_created ON instances(created);
CREATE TABLE IF NOT EXISTS history(
  instance_id TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL,
  PRIMARY KEY(instance_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbox(
  id INTEGER PRIMARY KEY, instance_id TEXT NOT NULL, gen INTEGER, kind TEXT NOT NULL,
  payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS inbox_instance ON inbox(instance_id, id);
CREATE TABLE IF NOT EXISTS work_items(
  id INTEGER PRIMARY KEY, instance_id TEXT NOT NULL, gen INTEGER NOT NULL,
  task_id INTEGER NOT NULL, name TEXT NOT NULL, input TEXT);
CREATE TABLE IF NOT EXISTS timers(
  id INTEGER PRIMARY KEY, instance_id TEXT NOT NULL, gen INTEGER NOT NULL,
  timer_id INTEGER NOT NULL, fire_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entities(id TEXT PRIMARY KEY, state TEXT NOT NULL, updated TEXT);
CREATE TABLE IF NOT EXISTS entity_inbox(
  id INTEGER PRIMARY KEY, entity_id TEXT NOT NULL, payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS entity_inbox_entity ON entity_inbox(entity_id, id);
CREATE TABLE IF NOT EXISTS timer_triggers(name TEXT PRIMARY KEY, next_due TEXT NOT NULL);
"""

#: Tables of per-instance state that go with an instance's execution.
_EXECUTION_TABLES = ("history", "inbox", "timers", "work_items")


class MessageKind(StrEnum):
    """What an inbox message asks of an orchestration."""

    EVENT = "event"  # a history event to append (its payload)
    TERMINATE = "terminate"
    SUSPEND = "suspend"
    RESUME = "resume"


@dataclass(frozen=True, slots=True)
class Instance:
    """A row of `instances`: one orchestration instance, its current execution (`gen`)."""

    id: str
    name: str
    status: RuntimeStatus
    gen: int
    input: str | None
    output: str | None
    custom_status: str | None
    failure: str | None
    version: str | None
    created: str
    updated: str
    parent_id: str | None
    parent_task: int | None
    parent_gen: int | None
    signatures: str  # JSON list of [actionType, target], one per action recorded so far
    next_seq: int  # the first task id the host has not acted on yet


_INSTANCE_COLUMNS = ", ".join(f.name for f in fields(Instance))


def _instance(row: tuple[Any, ...]) -> Instance:
    values = list(row)
    values[2] = RuntimeStatus(values[2])
    return Instance(*values)


class Parent(NamedTuple):
    """The task of a parent orchestration that a sub-orchestration completes."""

    instance_id: str
    task_id: int
    gen: int


class Message(NamedTuple):
    """A message for an orchestration: `gen` None is for whatever execution is current."""

    instance_id: str
    gen: int | None
    kind: MessageKind
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class InboxMessage:
    """A queued message of one instance, in arrival order (`id`)."""

    id: int
    gen: int | None
    kind: MessageKind
    payload: dict[str, Any]


class Work(NamedTuple):
    """An activity to run: task `task_id` of an execution of an instance."""

    instance_id: str
    gen: int
    task_id: int
    name: str
    input: str | None


@dataclass(frozen=True, slots=True)
class WorkItem:
    """A row of `work_items`: an activity scheduled and not finished yet."""

    id: int
    instance_id: str
    gen: int
    task_id: int
    name: str
    input: str | None


class Timer(NamedTuple):
    """A durable timer to create: task `timer_id` of an execution fires at `fire_at`."""

    instance_id: str
    gen: int
    timer_id: int
    fire_at: str


@dataclass(frozen=True, slots=True)
class DurableTimer:
    """A row of `timers`: a durable timer that has not fired."""

    id: int
    instance_id: str
    gen: int
    timer_id: int
    fire_at: str


class EntityOperation(TypedDict):
    """An operation queued for an entity. A call (not `signal`) names the calling execution
    (`parent`, `gen`), which gets the result as an EventRaised named `id`."""

    op: str
    input: str | None
    signal: bool
    id: str
    parent: NotRequired[str]
    gen: NotRequired[int]


class EntityMessage(NamedTuple):
    entity_id: str
    operation: EntityOperation


@dataclass(frozen=True, slots=True)
class QueuedOperation:
    """A row of `entity_inbox`: an operation not yet run, in arrival order (`id`)."""

    id: int
    operation: EntityOperation


class Store:
    """The SQLite file: reads here, writes on the `Transaction` of `tx()`."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._next_id = {t: self._max_id(t) + 1
                         for t in ("inbox", "work_items", "timers", "entity_inbox")}

    def _max_id(self, table: str) -> int:
        row = self.db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()
        return int(row[0])

    def new_ids(self, table: str, count: int) -> range:
        """Ids for rows about to be inserted (assigned here so executemany can be used)."""
        first = self._next_id[table]
        self._next_id[table] = first + count
        return range(first, first + count)

    @contextmanager
    def tx(self) -> Iterator[Transaction]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield Transaction(self)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    # --- orchestration instances ----------------------------------------------------------
    def instance(self, instance_id: str) -> Instance | None:
        row = self.db.execute(f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE id=?",
                              (instance_id,)).fetchone()
        return None if row is None else _instance(row)

    def history(self, instance_id: str) -> list[str]:
        """The history of the current execution: one JSON event per item, in order."""
        return [r[0] for r in self.db.execute(
            "SELECT event FROM history WHERE instance_id=? ORDER BY seq", (instance_id,))]

    def query_instances(self, statuses: Sequence[str] | None = None,
                        created_from: str | None = None, created_to: str | None = None,
                        prefix: str | None = None) -> list[Instance]:
        where: list[str] = []
        args: list[Any] = []
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args += statuses
        if created_from:
            where.append("created >= ?")
            args.append(created_from)
        if created_to:
            where.append("created <= ?")
            args.append(created_to)
        if prefix:
            where.append("substr(id, 1, ?) = ?")
            args += [len(prefix), prefix]
        sql = f"SELECT {_INSTANCE_COLUMNS} FROM instances"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_instance(r) for r in self.db.execute(sql + " ORDER BY created, id", args)]

    def instances_with_messages(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT instance_id FROM inbox")]

    def inbox(self, instance_id: str) -> list[InboxMessage]:
        """The queued messages of an instance, in arrival order."""
        return [InboxMessage(i, gen, MessageKind(kind), json.loads(payload))
                for i, gen, kind, payload in self.db.execute(
                    "SELECT id, gen, kind, payload FROM inbox WHERE instance_id=? ORDER BY id",
                    (instance_id,))]

    # --- activities and durable timers ----------------------------------------------------
    def work_items(self) -> list[WorkItem]:
        return [WorkItem(*r) for r in self.db.execute(
            "SELECT id, instance_id, gen, task_id, name, input FROM work_items ORDER BY id")]

    def timers(self) -> list[DurableTimer]:
        return [DurableTimer(*r) for r in self.db.execute(
            "SELECT id, instance_id, gen, timer_id, fire_at FROM timers ORDER BY id")]

    # --- entities -------------------------------------------------------------------------
    def entity_state(self, entity_id: str) -> str | None:
        row = self.db.execute("SELECT state FROM entities WHERE id=?", (entity_id,)).fetchone()
        return None if row is None else str(row[0])

    def entities_with_operations(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT entity_id FROM entity_inbox")]

    def entity_operations(self, entity_id: str, limit: int) -> list[QueuedOperation]:
        """The first `limit` queued operations of an entity, in arrival order."""
        return [QueuedOperation(i, json.loads(payload)) for i, payload in self.db.execute(
            "SELECT id, payload FROM entity_inbox WHERE entity_id=? ORDER BY id LIMIT ?",
            (entity_id, limit))]

    # --- timer triggers -------------------------------------------------------------------
    def timer_triggers(self) -> dict[str, str]:
        """The next due time of each timer trigger that has run its loop before."""
        return {r[0]: r[1] for r in self.db.execute("SELECT name, next_due FROM timer_triggers")}


class Transaction:
    """The writes of one open transaction of a `Store` (see `Store.tx`)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    def instance(self, instance_id: str) -> Instance | None:
        """The instance as this transaction sees it."""
        return self.store.instance(instance_id)

    # --- messages -------------------------------------------------------------------------
    def add_messages(self, messages: Sequence[Message]) -> None:
        """Queue messages for orchestrations."""
        ids = self.store.new_ids("inbox", len(messages))
        self.db.executemany(
            "INSERT INTO inbox(id, instance_id, gen, kind, payload) VALUES (?,?,?,?,?)",
            [(i, m.instance_id, m.gen, str(m.kind), json.dumps(m.payload))
             for i, m in zip(ids, messages)])

    def delete_messages(self, ids: Iterable[int]) -> None:
        self.db.executemany("DELETE FROM inbox WHERE id=?", [(i,) for i in ids])

    def add_entity_messages(self, messages: Sequence[EntityMessage]) -> None:
        """Queue operations for entities."""
        ids = self.store.new_ids("entity_inbox", len(messages))
        self.db.executemany(
            "INSERT INTO entity_inbox(id, entity_id, payload) VALUES (?,?,?)",
            [(i, m.entity_id, json.dumps(m.operation)) for i, m in zip(ids, messages)])

    # --- instances ------------------------------------------------------------------------
    def put_instance(self, instance_id: str, name: str, gen: int, input_text: str | None,
                     version: str | None, created: str, parent: Parent | None) -> None:
        """A new Pending instance (replacing a finished one of the same id)."""
        parent_id, parent_task, parent_gen = parent or (None, None, None)
        self.db.execute(
            "INSERT OR REPLACE INTO instances(id, name, status, gen, input, version, created, "
            "updated, parent_id, parent_task, parent_gen) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (instance_id, name, str(RuntimeStatus.PENDING), gen, input_text, version, created,
             created, parent_id, parent_task, parent_gen))

    def delete_execution(self, instance_id: str) -> None:
        """Forget the history, queued messages, timers and work of one instance."""
        for table in _EXECUTION_TABLES:
            self.db.execute(f"DELETE FROM {table} WHERE instance_id=?", (instance_id,))

    def delete_instance(self, instance_id: str) -> None:
        """Purge an instance: its row and all its state."""
        self.delete_execution(instance_id)
        self.db.execute("DELETE FROM instances WHERE id=?", (instance_id,))

    def append_history(self, instance_id: str, first_seq: int, lines: Sequence[str]) -> None:
        self.db.executemany("INSERT INTO history(instance_id, seq, event) VALUES (?,?,?)",
                            [(instance_id, first_seq + n, line) for n, line in enumerate(lines)])

    def set_status(self, instance_id: str, status: RuntimeStatus) -> None:
        self.db.execute("UPDATE instances SET status=?, updated=? WHERE id=?",
                        (str(status), stamp(), instance_id))

    def set_terminated(self, instance_id: str, output: str) -> None:
        self.db.execute("UPDATE instances SET status=?, output=?, updated=? WHERE id=?",
                        (str(RuntimeStatus.TERMINATED), output, stamp(), instance_id))

    def record_episode(self, instance_id: str, status: RuntimeStatus, output: str | None,
                       custom_status: str | None, failure: str | None, signatures: str,
                       next_seq: int) -> None:
        """The instance's state after an episode."""
        self.db.execute(
            "UPDATE instances SET status=?, output=?, custom_status=?, failure=?, "
            "signatures=?, next_seq=?, updated=? WHERE id=?",
            (str(status), output, custom_status, failure, signatures, next_seq, stamp(),
             instance_id))

    def new_execution(self, instance_id: str, gen: int, input_text: str | None) -> None:
        """continue_as_new: drop the execution's history, timers, work and messages addressed
        to it, and start execution `gen` (Running) with `input_text`."""
        for table in ("history", "timers", "work_items"):
            self.db.execute(f"DELETE FROM {table} WHERE instance_id=?", (instance_id,))
        self.db.execute("DELETE FROM inbox WHERE instance_id=? AND gen IS NOT NULL",
                        (instance_id,))
        self.db.execute("UPDATE instances SET gen=?, input=?, signatures='[]', next_seq=0, "
                        "status=?, updated=? WHERE id=?",
                        (gen, input_text, str(RuntimeStatus.RUNNING), stamp(), instance_id))

    # --- activities -----------------------------------------------------------------------
    def add_work(self, work: Sequence[Work]) -> list[WorkItem]:
        ids = self.store.new_ids("work_items", len(work))
        items = [WorkItem(i, *w) for i, w in zip(ids, work)]
        self.db.executemany("INSERT INTO work_items(id, instance_id, gen, task_id, name, input) "
                            "VALUES (?,?,?,?,?,?)",
                            [(w.id, w.instance_id, w.gen, w.task_id, w.name, w.input)
                             for w in items])
        return items

    def delete_work(self, ids: Iterable[int]) -> None:
        self.db.executemany("DELETE FROM work_items WHERE id=?", [(i,) for i in ids])

    # --- durable timers -------------------------------------------------------------------
    def add_timers(self, timers: Sequence[Timer]) -> list[DurableTimer]:
        ids = self.store.new_ids("timers", len(timers))
        rows = [DurableTimer(i, *t) for i, t in zip(ids, timers)]
        self.db.executemany("INSERT INTO timers(id, instance_id, gen, timer_id, fire_at) "
                            "VALUES (?,?,?,?,?)",
                            [(t.id, t.instance_id, t.gen, t.timer_id, t.fire_at) for t in rows])
        return rows

    def take_timer(self, row_id: int) -> DurableTimer | None:
        """Delete a timer row and return it (None: cancelled, or its instance finished)."""
        row = self.db.execute("SELECT id, instance_id, gen, timer_id, fire_at FROM timers "
                              "WHERE id=?", (row_id,)).fetchone()
        if row is None:
            return None
        self.db.execute("DELETE FROM timers WHERE id=?", (row_id,))
        return DurableTimer(*row)

    def delete_timers(self, instance_id: str) -> None:
        self.db.execute("DELETE FROM timers WHERE instance_id=?", (instance_id,))

    def cancel_timers(self, instance_id: str, gen: int, timer_ids: Iterable[int]) -> None:
        self.db.executemany("DELETE FROM timers WHERE instance_id=? AND gen=? AND timer_id=?",
                            [(instance_id, gen, t) for t in timer_ids])

    # --- entities -------------------------------------------------------------------------
    def put_entity(self, entity_id: str, state: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO entities(id, state, updated) VALUES (?,?,?)",
                        (entity_id, state, stamp()))

    def delete_entity(self, entity_id: str) -> None:
        self.db.execute("DELETE FROM entities WHERE id=?", (entity_id,))

    def delete_entity_operations(self, ids: Iterable[int]) -> None:
        self.db.executemany("DELETE FROM entity_inbox WHERE id=?", [(i,) for i in ids])

    # --- timer triggers -------------------------------------------------------------------
    def set_timer_trigger(self, name: str, next_due: str) -> None:
        """When timer trigger `name` is due next (a restarted host goes on from there)."""
        self.db.execute("INSERT OR REPLACE INTO timer_triggers(name, next_due) VALUES (?,?)",
                        (name, next_due))
