"""Timer triggers: NCRONTAB schedules, the admin invoke route, runOnStartup, past_due and the
setting that disables them."""
import time
from datetime import datetime, timezone

import pytest

from devhost.schedules import Cron
from devhost_harness import MASTER_KEY

pytestmark = pytest.mark.integration


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def test_ncrontab_six_fields():
    every_five = Cron("0 */5 * * * *")
    assert every_five.next_after(at("2026-03-01T10:02:30")) == at("2026-03-01T10:05:00")
    assert every_five.next_after(at("2026-03-01T10:55:00")) == at("2026-03-01T11:00:00")
    weekdays = Cron("30 15 9 * * MON-FRI")
    assert weekdays.next_after(at("2026-03-06T10:00:00")) == at("2026-03-09T09:15:30")
    assert Cron("0 0 0 1 JAN *").next_after(at("2026-03-01T00:00:00")) == at(
        "2027-01-01T00:00:00")
    assert Cron("*/10 * * * * *").next_after(at("2026-03-01T00:00:05")) == at(
        "2026-03-01T00:00:10")
    with pytest.raises(ValueError):
        Cron("* * * *")


def test_admin_route_runs_a_timer_with_the_master_key(host):
    assert host.request("POST", "/admin/functions/tick")[0] == 401
    assert host.request("POST", "/admin/functions/tick",
                        headers={"x-functions-key": MASTER_KEY})[0] == 202
    records = host.wait_for(lambda: host.entity_state("counter", "ticks"))
    assert {"past_due": False} in records
    assert host.request("POST", "/admin/functions/nope",
                        headers={"x-functions-key": MASTER_KEY})[0] == 404


def test_run_on_startup(host):
    assert host.wait_for(lambda: host.entity_state("counter", "startup")) == 1


def test_setting_disables_timers(fresh_host):
    devhost = fresh_host(DEVHOST_DISABLE_TIMERS="1").start()
    devhost.request("POST", "/admin/functions/tick", headers={"x-functions-key": MASTER_KEY})
    devhost.wait_for(lambda: devhost.entity_state("counter", "ticks"))
    assert devhost.entity("counter", "startup")[0] == 404


def test_schedule_fires_and_a_missed_run_is_past_due(fresh_host):
    devhost = fresh_host(TICK_SCHEDULE="* * * * * *").start()
    devhost.wait_for(lambda: devhost.entity_state("counter", "ticks"))
    devhost.stop()
    time.sleep(2.5)  # the host is down while the schedule comes due
    devhost.start()
    records = devhost.wait_for(
        lambda: [r for r in devhost.entity_state("counter", "ticks") or [] if r["past_due"]])
    assert records
