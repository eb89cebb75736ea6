"""Dataset archives: safe folder names, deterministic splits, and a streamed zip writer.

Example::

    from shared.datasets import BlobBlockSink, write_archive
    summary = await write_archive(records, fetch_bytes, BlobBlockSink(blob_client), meta)
"""

from shared.datasets.archive import FetchBytes, skip_reason, write_archive
from shared.datasets.curation import admit, curated
from shared.datasets.labels import MAX_LABEL_BYTES, safe_label
from shared.datasets.layout import (
    CARD, DATASET_JSON, LABELS_CSV, MANIFEST, MANIFEST_FIELDS, METADATA_MEMBERS,
    image_member, is_safe_member, manifest_line, manifest_row,
)
from shared.datasets.sinks import (
    DEFAULT_BLOCK_SIZE, ArchiveSink, BlobBlockSink, BlockBlobClient, FileSink, abort_sink,
)
from shared.datasets.splits import split_for, split_position

__all__ = [
    "CARD", "DATASET_JSON", "DEFAULT_BLOCK_SIZE", "LABELS_CSV", "MANIFEST", "MANIFEST_FIELDS",
    "MAX_LABEL_BYTES", "METADATA_MEMBERS", "ArchiveSink", "BlobBlockSink", "BlockBlobClient",
    "FetchBytes", "FileSink", "abort_sink", "admit", "curated", "image_member", "is_safe_member", "manifest_line",
    "manifest_row",
    "safe_label", "skip_reason", "split_for", "split_position", "write_archive",
]
