"""The workflow contract (shared.workflow) names exactly what the app registers: every
orchestration, activity and entity the code addresses exists under that name and kind, and
nothing is registered that the contract does not name."""

from __future__ import annotations

import azure.durable_functions as df
import pytest

import activities
import entities
import orchestrators
from shared.models import DedupeStage, Phase, ProgressState
from shared.workflow import (
    Activity, Entity, Orchestrator, ProgressOp, chunk_instance_id, crawl_validation_instance_id,
    dedupe_activity, job_instance_id, validation_instance_id, verify_instance_id,
)
from entities.job_progress import _apply as apply_progress

TRIGGERS = {"orchestrationTrigger": Orchestrator, "activityTrigger": Activity, "entityTrigger": Entity}


def registered() -> dict[str, set[str]]:
    app = df.DFApp()
    for blueprint in (orchestrators.blueprint, activities.blueprint, entities.blueprint):
        app.register_functions(blueprint)
    found: dict[str, set[str]] = {kind: set() for kind in TRIGGERS}
    for function in app.get_functions():
        kinds = [b.type for b in function.get_bindings() if b.type in TRIGGERS]
        assert len(kinds) == 1, function.get_function_name()
        found[kinds[0]].add(function.get_function_name())
    return found


@pytest.mark.parametrize("kind", sorted(TRIGGERS))
def test_every_name_of_the_contract_is_registered_as_its_kind_and_nothing_else_is(kind: str) -> None:
    assert registered()[kind] == {name.value for name in TRIGGERS[kind]}


def test_every_dedupe_stage_runs_an_activity_of_the_contract() -> None:
    assert {dedupe_activity(stage) for stage in DedupeStage} <= set(Activity)


def test_the_phase_operation_takes_a_phase_of_the_contract_and_refuses_others() -> None:
    assert apply_progress(ProgressState(), ProgressOp.phase, "validating").phase is Phase.validating
    with pytest.raises(ValueError):
        apply_progress(ProgressState(), ProgressOp.phase, "resting")


def test_instance_ids_of_one_job_never_collide() -> None:
    ids = [
        job_instance_id("j", 1), job_instance_id("j", 2), chunk_instance_id("j", 1, "c0"),
        crawl_validation_instance_id("j", 1), validation_instance_id("j"), verify_instance_id("j"),
    ]
    assert len(set(ids)) == len(ids)
