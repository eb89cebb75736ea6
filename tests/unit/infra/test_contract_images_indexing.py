"""The images container is indexed the same way wherever it is created: by the Bicep templates
on Azure and by shared/storage/bootstrap.py against the emulator (and on a fresh account)."""

from __future__ import annotations

from shared.storage.bootstrap import INDEXING_POLICIES, IMAGES_INDEXING_POLICY


def test_bootstrap_creates_images_with_the_policy_infra_deploys(infra) -> None:
    deployed = infra.files["modules/cosmos.bicep"].var("imagesIndexing")
    assert IMAGES_INDEXING_POLICY == deployed
    assert INDEXING_POLICIES == {"images": IMAGES_INDEXING_POLICY}


def test_window_hashes_are_not_indexed(infra) -> None:
    """18 hashes per record that no query filters on: indexing them would only make every
    record write dearer."""
    excluded = [p["path"] for p in infra.files["modules/cosmos.bicep"].var("imagesIndexing")["excludedPaths"]]
    assert "/windows/*" in excluded
