"""A storage account that does not answer is ServiceUnavailable (HTTP 503), not a crash."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from scripts.localservices import azurite_connection_string, free_port_block
from shared.errors import ServiceUnavailable
from shared.settings import get_settings
from shared.storage import StorageContext

pytestmark = pytest.mark.integration


async def test_unreachable_storage_is_service_unavailable(services: dict[str, str]) -> None:
    closed = free_port_block(3)  # nothing listens there
    settings = get_settings().model_copy(
        update={
            "cosmos_endpoint": f"https://127.0.0.1:{closed}/",
            "blob_connection_string": SecretStr(azurite_connection_string(closed)),
        }
    )

    async with StorageContext(settings, retry_total=0) as dead:
        with pytest.raises(ServiceUnavailable) as blob_down:
            await dead.blobs.get("images", "any.jpg")
        with pytest.raises(ServiceUnavailable) as cosmos_down:
            await dead.jobs.get("any", "user")

    assert "retry later" in blob_down.value.message
    assert cosmos_down.value.error_code == "service_unavailable"
