"""The memory budget: never more reserved than its limit (nested budgets included), granted in
arrival order, and every byte given back whatever happens to the holders."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.fetch.budget import ByteBudget, OverBudget


def test_a_reservation_larger_than_the_budget_or_its_parent_is_refused() -> None:
    parent = ByteBudget(100)
    child = ByteBudget(1000, parent=parent)
    with pytest.raises(OverBudget):
        asyncio.run(child.reserve(101))
    assert (parent.used, child.used) == (0, 0)


async def test_waiters_are_served_in_arrival_order_so_a_large_one_is_not_starved() -> None:
    budget = ByteBudget(100)
    first = await budget.reserve(60)
    order: list[str] = []

    async def want(name: str, size: int) -> None:
        hold = await budget.reserve(size)
        order.append(name)
        await asyncio.sleep(0)
        hold.release()

    large = asyncio.create_task(want("large", 90))
    await asyncio.sleep(0)
    small = asyncio.create_task(want("small", 10))  # would fit now, but arrived after "large"
    await asyncio.sleep(0)
    assert order == []
    first.release()
    await asyncio.gather(large, small)
    assert order == ["large", "small"]
    assert budget.used == 0


async def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    budget = ByteBudget(10)
    held = await budget.reserve(10)
    waiting = asyncio.create_task(budget.reserve(5))
    behind = asyncio.create_task(budget.reserve(5))
    await asyncio.sleep(0)
    waiting.cancel()
    held.release()
    hold = await behind
    assert budget.used == 5
    hold.release()
    assert budget.used == 0


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=40),
    child_limit=st.integers(min_value=60, max_value=150),
    parent_limit=st.integers(min_value=60, max_value=150),
    shrink_to=st.lists(st.integers(min_value=0, max_value=60), min_size=40, max_size=40),
)
def test_nested_budgets_never_exceed_their_limits_and_end_empty(
    sizes: list[int], child_limit: int, parent_limit: int, shrink_to: list[int]
) -> None:
    async def scenario() -> None:
        parent = ByteBudget(parent_limit)
        children = [ByteBudget(child_limit, parent=parent) for _ in range(3)]

        async def holder(index: int, size: int) -> None:
            budget = children[index % 3]
            hold = await budget.reserve(size)
            assert budget.used <= budget.limit and parent.used <= parent.limit
            hold.shrink(min(size, shrink_to[index]))
            await asyncio.sleep(0)
            hold.release()

        await asyncio.gather(*(holder(i, size) for i, size in enumerate(sizes)))
        assert parent.used == 0 and all(c.used == 0 for c in children)
        assert parent.peak <= parent.limit and all(c.peak <= c.limit for c in children)

    asyncio.run(scenario())
