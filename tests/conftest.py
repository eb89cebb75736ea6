"""Fixtures shared by the whole test suite, and its hypothesis profiles.

``services`` starts the real local stand-ins (Azurite, cosmosdb-server) once per session on free
ports, points the app's settings at them and creates the storage; ``storage`` gives each test
its own :class:`shared.storage.StorageContext` over them.

Hypothesis runs under the ``ci`` profile unless told otherwise: derandomized (the examples
derive from each test, not from a random seed), no example database, no deadline -- so the
suite gives the same answer on every run and machine (what ``scripts/test`` and ``.ci/run``
need). ``--hypothesis-profile=wide`` (or ``HYPOTHESIS_PROFILE=wide``) draws fresh random
examples on every run, at least 1,000 per property test that does not ask for more: the
search for new counterexamples, run on purpose (README, "Tests").
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from hypothesis import settings as hypothesis_settings

from scripts.localservices import LocalServices, LocalServicesError
from shared.settings import get_settings
from shared.storage import StorageContext
from shared.storage.bootstrap import ensure_storage

hypothesis_settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, print_blob=True
)
hypothesis_settings.register_profile(
    "wide", derandomize=False, deadline=None, max_examples=1000, print_blob=True
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def _local_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServices]:
    """Azurite + cosmosdb-server on free ports, stopped at the end of the session."""
    local = LocalServices(tmp_path_factory.mktemp("services"))
    try:
        local.start()  # installs the node packages through scripts/setup when missing
    except LocalServicesError as exc:
        pytest.fail(
            f"cannot start the local Azure stand-ins ({exc}); run scripts/setup", pytrace=False
        )
    try:
        yield local
    finally:
        local.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def services(_local_services: LocalServices) -> AsyncIterator[dict[str, str]]:
    """The env of the running stand-ins, set in ``os.environ`` for the session (restored
    afterwards), with the database and every container created."""
    env = _local_services.env
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        await ensure_storage(get_settings())
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@pytest_asyncio.fixture
async def storage(services: dict[str, str]) -> AsyncIterator[StorageContext]:
    """A StorageContext over the stand-ins, closed after the test."""
    async with StorageContext(get_settings()) as context:
        yield context
