"""SIGKILL at several points of a running fan-out, restart on the same state file: the result
equals an uninterrupted run, activities ran at least once, entity operations exactly once."""
import uuid

import pytest

pytestmark = pytest.mark.integration

CHUNKS, SIZE = 8, 25
EXPECTED = sum(2 * i for i in range(CHUNKS * SIZE))


def completed_children(devhost, iid: str) -> int:
    rows = devhost.json("GET", "/runtime/webhooks/durabletask/instances?runtimeStatus=Completed"
                               f"&instanceIdPrefix={iid}:")[1]
    return len(rows)


@pytest.mark.parametrize("workers", ["0", "1"])
def test_kill_and_restart_during_fan_out(fresh_host, workers):
    devhost = fresh_host().start("--workers", workers)
    run, key = uuid.uuid4().hex[:8], f"crash-{uuid.uuid4().hex[:8]}"
    iid = devhost.start_orchestration("chunked", {
        "chunks": CHUNKS, "size": SIZE, "activity": "slow_count", "sleep": 0.03,
        "run": run, "counter": key})
    devhost.kill()  # right after the start was accepted
    for threshold in (2, 5):
        devhost.start("--workers", workers)
        devhost.wait_for(lambda: completed_children(devhost, iid) >= threshold, timeout=60)
        devhost.kill()
    devhost.start("--workers", workers)
    status = devhost.wait(iid, timeout=120)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == {"total": EXPECTED, "chunks": CHUNKS}
    assert devhost.entity("counter", key) == (200, EXPECTED)
    assert devhost.entity("counter", key + "-calls") == (200, CHUNKS)
    runs = (devhost.scratch / f"runs-{run}").stat().st_size
    assert runs >= CHUNKS * SIZE
