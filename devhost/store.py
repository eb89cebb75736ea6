"""SQLite state of the devhost: the task hub.

Every change is written in one transaction before the devhost acts on it (WAL journal,
synchronous=NORMAL: a killed process loses nothing that was committed). All access happens on
the event-loop thread, so there is exactly one writer.
"""
from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

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

TERMINAL = ("Completed", "Failed", "Terminated")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def stamp(moment: Optional[datetime] = None) -> str:
    """A history timestamp: UTC with microseconds and a `Z`."""
    return (moment or utcnow()).strftime(TIME_FORMAT)


def parse_stamp(text: str) -> datetime:
    return datetime.strptime(text.replace("+00:00", "Z"), TIME_FORMAT).replace(
        tzinfo=timezone.utc)


class Store:
    """The SQLite file and the few statements everything else shares."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._next_id = {t: self._max_id(t) + 1
                         for t in ("inbox", "work_items", "timers", "entity_inbox")}

    def _max_id(self, table: str) -> int:
        return self.db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]

    def new_ids(self, table: str, count: int) -> range:
        """Ids for rows about to be inserted (assigned here so executemany can be used)."""
        first = self._next_id[table]
        self._next_id[table] = first + count
        return range(first, first + count)

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    # --- rows written by several components -------------------------------------------
    def add_messages(self, db: sqlite3.Connection,
                     messages: Sequence[Sequence[Any]]) -> None:
        """Queue (instance_id, gen, kind, payload dict) messages for orchestrations."""
        ids = self.new_ids("inbox", len(messages))
        db.executemany(
            "INSERT INTO inbox(id, instance_id, gen, kind, payload) VALUES (?,?,?,?,?)",
            [(i, iid, gen, kind, json.dumps(payload))
             for i, (iid, gen, kind, payload) in zip(ids, messages)])

    def add_entity_messages(self, db: sqlite3.Connection,
                            messages: Sequence[Sequence[Any]]) -> None:
        """Queue (entity_id, payload dict) operations for entities."""
        ids = self.new_ids("entity_inbox", len(messages))
        db.executemany("INSERT INTO entity_inbox(id, entity_id, payload) VALUES (?,?,?)",
                       [(i, eid, json.dumps(p)) for i, (eid, p) in zip(ids, messages)])

    def instance(self, instance_id: str) -> Optional[sqlite3.Row]:
        return self.db.execute("SELECT * FROM instances WHERE id=?", (instance_id,)).fetchone()

    def history(self, instance_id: str) -> List[str]:
        return [r[0] for r in self.db.execute(
            "SELECT event FROM history WHERE instance_id=? ORDER BY seq", (instance_id,))]

    def delete_instance_state(self, db: sqlite3.Connection, instance_id: str) -> None:
        """Forget the history, queued messages, timers and work of one instance."""
        for table in ("history", "inbox", "timers", "work_items"):
            db.execute(f"DELETE FROM {table} WHERE instance_id=?", (instance_id,))

    def query_instances(self, statuses: Optional[List[str]] = None,
                        created_from: Optional[str] = None, created_to: Optional[str] = None,
                        prefix: Optional[str] = None) -> List[sqlite3.Row]:
        where, args = [], []  # type: List[str], List[Any]
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
        sql = "SELECT * FROM instances"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return list(self.db.execute(sql + " ORDER BY created, id", args))

    def entity_state(self, entity_id: str) -> Optional[str]:
        row = self.db.execute("SELECT state FROM entities WHERE id=?", (entity_id,)).fetchone()
        return row[0] if row else None

    def all_rows(self, table: str) -> List[sqlite3.Row]:
        return list(self.db.execute(f"SELECT * FROM {table} ORDER BY id"))

    def all_timer_triggers(self) -> Dict[str, str]:
        return {r[0]: r[1] for r in self.db.execute("SELECT name, next_due FROM timer_triggers")}

    def set_timer_trigger(self, name: str, next_due: str) -> None:
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO timer_triggers(name, next_due) VALUES (?,?)",
                       (name, next_due))
