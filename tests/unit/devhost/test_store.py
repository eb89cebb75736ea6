"""The devhost's task hub: what one transaction writes is there after a restart, all of it or
none of it, and reads give typed records."""

from pathlib import Path

import pytest

from devhost.protocol import EventType, RuntimeStatus, event
from devhost.store import (DurableTimer, Instance, Message, MessageKind, Parent, Store, Timer,
                           Work, WorkItem)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite"


def start(store: Store, iid: str, parent: Parent | None = None) -> None:
    with store.tx() as tx:
        tx.put_instance(iid, "orch", 0, '"in"', None, "2026-01-01T00:00:00.000000Z", parent)
        tx.add_messages([Message(iid, 0, MessageKind.EVENT,
                                 event(EventType.EXECUTION_STARTED, Name="orch"))])


def test_a_committed_transaction_survives_a_restart_as_typed_rows(path: Path) -> None:
    store = Store(path)
    start(store, "child", Parent("parent", 3, 1))
    with store.tx() as tx:
        work = tx.add_work([Work("child", 0, 0, "double", "2")])
        timers = tx.add_timers([Timer("child", 0, 1, "2026-01-01T00:01:00.000000Z")])
    store.close()

    again = Store(path)
    inst = again.instance("child")
    assert isinstance(inst, Instance)
    assert inst.status is RuntimeStatus.PENDING
    assert (inst.parent_id, inst.parent_task, inst.parent_gen) == ("parent", 3, 1)
    assert again.work_items() == work and isinstance(work[0], WorkItem)
    assert again.timers() == timers and isinstance(timers[0], DurableTimer)
    [message] = again.inbox("child")
    assert message.kind is MessageKind.EVENT
    assert message.payload["EventType"] == EventType.EXECUTION_STARTED
    assert again.instances_with_messages() == ["child"]


def test_a_transaction_that_raises_writes_nothing(path: Path) -> None:
    store = Store(path)
    with pytest.raises(RuntimeError), store.tx() as tx:
        tx.put_instance("a", "orch", 0, None, None, "2026-01-01T00:00:00.000000Z", None)
        tx.add_work([Work("a", 0, 0, "double", "2")])
        raise RuntimeError("the episode failed half-way")
    assert store.instance("a") is None
    assert store.work_items() == []
    # The next transaction commits normally.
    with store.tx() as tx:
        [item] = tx.add_work([Work("b", 0, 0, "double", "3")])
    assert store.work_items() == [item]


def test_a_new_execution_keeps_only_messages_for_whatever_execution_is_current(
        path: Path) -> None:
    store = Store(path)
    start(store, "loop")
    with store.tx() as tx:
        tx.add_messages([Message("loop", None, MessageKind.TERMINATE, {"reason": "stop"})])
        tx.append_history("loop", 0, ['{"EventType": 12}'])
        tx.add_timers([Timer("loop", 0, 1, "2026-01-01T00:01:00.000000Z")])
        tx.new_execution("loop", 1, '"next"')
    inst = store.instance("loop")
    assert inst is not None
    assert (inst.gen, inst.input, inst.status, inst.next_seq) == (
        1, '"next"', RuntimeStatus.RUNNING, 0)
    assert store.history("loop") == [] and store.timers() == []
    assert [m.kind for m in store.inbox("loop")] == [MessageKind.TERMINATE]


def test_purging_an_instance_forgets_all_its_state(path: Path) -> None:
    store = Store(path)
    start(store, "gone")
    start(store, "kept")
    with store.tx() as tx:
        tx.delete_instance("gone")
    assert store.instance("gone") is None and store.inbox("gone") == []
    assert [i.id for i in store.query_instances()] == ["kept"]
