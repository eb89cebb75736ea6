"""HTTP downloading of image URLs, with limits and an SSRF guard.

Example::

    from shared.fetch import Downloader
    async with Downloader(settings) as downloader:
        for result in await downloader.fetch_many(urls):
            if result.ok:
                store(result.body, result.format)
            else:
                failed[result.reason] += 1
"""

from shared.fetch.downloader import (
    Downloader,
    DownloaderStats,
    FetchFailure,
    FetchOk,
    FetchResult,
    user_agent,
)
from shared.fetch.guard import AddressPolicy, BlockedAddressError, GuardedResolver

__all__ = [
    "AddressPolicy",
    "BlockedAddressError",
    "Downloader",
    "DownloaderStats",
    "FetchFailure",
    "FetchOk",
    "FetchResult",
    "GuardedResolver",
    "user_agent",
]
