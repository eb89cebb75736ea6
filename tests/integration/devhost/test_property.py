"""Random fan-out shapes (sizes, failing activities, retries, sub-orchestrations) give the
result plain Python predicts."""
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.integration

items = st.lists(st.fixed_dictionaries({"value": st.integers(0, 50),
                                        "fail": st.integers(0, 3)}), min_size=1, max_size=6)
groups = st.lists(st.fixed_dictionaries({"items": items, "attempts": st.integers(1, 3),
                                         "mode": st.sampled_from(["given", "sub",
                                                                  "sub_retry"])}),
                  min_size=1, max_size=4)


def expected(group: dict):
    if any(item["fail"] >= group["attempts"] for item in group["items"]):
        return "failed"
    return sum(2 * item["value"] for item in group["items"])


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(shape=groups)
def test_random_fan_out_matches_python(host, shape):
    iid = host.start_orchestration("shape", {"groups": shape},
                                   instance_id=f"shape-{uuid.uuid4().hex[:10]}")
    status = host.wait(iid, timeout=90)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == [expected(g) for g in shape]
