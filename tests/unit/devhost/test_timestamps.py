"""The devhost's timestamp parser gives the SDK exactly what dateutil would."""

from datetime import datetime, timedelta, timezone

from dateutil.parser import parse as dateutil_parse
from hypothesis import given
from hypothesis import strategies as st

from devhost.replay import parse_timestamp

instants = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc)
)


@given(instants)
def test_the_devhosts_own_format_parses_to_the_same_instant(moment: datetime) -> None:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fast, slow = parse_timestamp(text), dateutil_parse(text)
    assert fast == slow
    assert fast.utcoffset() == slow.utcoffset() == timedelta(0)
    assert fast.isoformat() == slow.isoformat()


@given(instants, st.sampled_from(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S.%f+00:00"]))
def test_other_aware_formats_parse_to_the_same_instant(moment: datetime, pattern: str) -> None:
    text = moment.strftime(pattern)
    assert parse_timestamp(text) == dateutil_parse(text)


def test_a_timestamp_without_a_zone_is_left_to_dateutil() -> None:
    assert parse_timestamp("2026-11-24 10:00") == dateutil_parse("2026-11-24 10:00")
    assert parse_timestamp("Tue, 24 Nov 2026 10:00:00 GMT") == dateutil_parse("Tue, 24 Nov 2026 10:00:00 GMT")
