"""One pydantic model per concept, one module per area, each name imported here explicitly.

HTTP bodies, Cosmos documents and activity payloads are these models (or explicit projections
of them). Orchestrators and entities may import this package; it imports only pydantic and the
standard library so that it stays deterministic and cheap to load.

Example::

    from shared.models import JobCreate, plan_chunks
    job = JobCreate.model_validate({"name": "pets", "keywords": ["cat"], "sources": ["wikimedia"]})
    chunks = plan_chunks("job-1", job)
"""

from shared.models.base import (
    body_optional, ChunkStatus, DEFAULT_LEVEL, Document, ImageFormat, JobStatus, json_datetime, Keyword,
    Level, Model, Phase, SourceType, utcnow,
)
from shared.models.jobs import (
    chunk_id_for, ChunkSpec, DEFAULT_FORMATS, estimate_completion, expand_keyword, Job, JOB_ALIASES,
    JobCreate, JobProgress, plan_chunks, SourceSpec, UrlList, work_done,
)
from shared.models.images import (
    BatchResult, Candidate, DownloadBatch, FailureReason, ImageOrigin, ImageRecord, Origin, SearchPage,
    shard_blob_name, shard_key, SHARD_KEY_BITS, shard_prefix, ValidationResult, ValidationResultPage,
    ValidationResultQuery, ValidationRules, ValidationSummary,
)
from shared.models.validation import (
    BatchValidation, CheckCounts, DedupePlan, DedupeResult, DedupeStage, DedupeStageResult,
    DedupeSummary, DedupeTask, DuplicateGroup, HashedImage, PlanValidation, QualityCheck, QualityReport,
    QualityThresholds, ValidateBatch, ValidateJobInput, ValidationPlan, ValidationProgress,
    ValidationRequest, ValidationStart, ValidationStarted, ValidationStats,
)
from shared.models.progress import (
    CheckpointArchive, CheckpointBegin, CheckpointState, CheckpointSummary, ChunkCheckpoint, ChunkCount,
    ChunkOutcome, ChunkRun, ChunkUpdate, CrawlJobInput, DiscoverRequest, DiscoverResult, FinishJob,
    JobLogs, JobPage, JobQuery, JobStats, LATENCY_SAMPLE, ProgressState, resume_plan, ResumePlan,
    StartRun,
)
from shared.models.api import (
    ActiveJobs, ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyInfo, ApiKeyPage, CheckStatus,
    DependencyCheck, ErrorBody, ErrorDetailBody, HealthReport, Notification, NotificationKind,
    NotificationPage, NotificationQuery, PageQuery, RateWindow, SlotClaim,
)
from shared.models.datasets import (
    ArchiveSummary, check_splits, Dataset, dataset_blob_name, dataset_prefix, DatasetBuild,
    DatasetBuildFailure, DatasetBuildState, DatasetCounts, DatasetCreate, DatasetDownload, DatasetFile,
    DatasetLayout, DatasetMeta, DatasetPage, DatasetQuery, DatasetStatus, DatasetTally, DEFAULT_SPLITS,
    MAX_SPLITS, ShardState,
)
from shared.models.review import (
    BinaryBody, CurationChange, CurationSummary, DuplicateGroupPage, DuplicateGroupQuery, FailureEntry,
    FailurePage, FailureQuery, ImagePage, ImageQuery, ImageState, NearDuplicateGroup, ReviewImage,
    Thumbnail, THUMBNAIL_EDGE,
)
from shared.models.verify import (
    BatchVerification, PlanVerify, VerifyBatch, VerifyCounts, VerifyJobInput, VerifyPlan,
    VerifyProgress, VerifyReport, VerifyRequest, VerifyStart, VerifyStarted, VerifyStatus,
)
from shared.models.checkpoints import (
    ArchiveReport, CheckpointQuery, CheckpointStats, CheckpointView, ChunkList, DeleteReport,
    KeywordList, KeywordProgress, Percentiles, Snapshot, SnapshotInfo, StaleReport, TierReport,
    TierUsage,
)

__all__ = [
    "body_optional", "ChunkStatus", "DEFAULT_LEVEL", "Document", "ImageFormat", "JobStatus",
    "json_datetime", "Keyword", "Level", "Model", "Phase", "SourceType", "utcnow", "chunk_id_for",
    "ChunkSpec", "DEFAULT_FORMATS", "estimate_completion", "expand_keyword", "Job", "JOB_ALIASES",
    "JobCreate", "JobProgress", "plan_chunks", "SourceSpec", "UrlList", "work_done", "BatchResult",
    "Candidate", "DownloadBatch", "FailureReason", "ImageOrigin", "ImageRecord", "Origin", "SearchPage",
    "shard_blob_name", "shard_key", "SHARD_KEY_BITS", "shard_prefix", "ValidationResult",
    "ValidationResultPage", "ValidationResultQuery", "ValidationRules", "ValidationSummary",
    "BatchValidation", "CheckCounts", "DedupePlan", "DedupeResult", "DedupeStage", "DedupeStageResult",
    "DedupeSummary", "DedupeTask", "DuplicateGroup", "HashedImage", "PlanValidation", "QualityCheck",
    "QualityReport", "QualityThresholds", "ValidateBatch", "ValidateJobInput", "ValidationPlan",
    "ValidationProgress", "ValidationRequest", "ValidationStart", "ValidationStarted",
    "ValidationStats", "CheckpointArchive", "CheckpointBegin", "CheckpointState", "CheckpointSummary",
    "ChunkCheckpoint", "ChunkCount", "ChunkOutcome", "ChunkRun", "ChunkUpdate", "CrawlJobInput",
    "DiscoverRequest", "DiscoverResult", "FinishJob", "JobLogs", "JobPage", "JobQuery", "JobStats",
    "LATENCY_SAMPLE", "ProgressState", "resume_plan", "ResumePlan", "StartRun", "ActiveJobs", "ApiKey",
    "ApiKeyCreate", "ApiKeyCreated", "ApiKeyInfo", "ApiKeyPage", "CheckStatus", "DependencyCheck",
    "ErrorBody", "ErrorDetailBody", "HealthReport", "Notification", "NotificationKind",
    "NotificationPage", "NotificationQuery", "PageQuery", "RateWindow", "SlotClaim", "ArchiveSummary",
    "check_splits", "Dataset", "dataset_blob_name", "dataset_prefix", "DatasetBuild",
    "DatasetBuildFailure", "DatasetBuildState", "DatasetCounts", "DatasetCreate", "DatasetDownload",
    "DatasetFile", "DatasetLayout", "DatasetMeta", "DatasetPage", "DatasetQuery", "DatasetStatus",
    "DatasetTally", "DEFAULT_SPLITS", "MAX_SPLITS", "ShardState", "BinaryBody", "CurationChange",
    "CurationSummary", "DuplicateGroupPage", "DuplicateGroupQuery", "FailureEntry", "FailurePage",
    "FailureQuery", "ImagePage", "ImageQuery", "ImageState", "NearDuplicateGroup", "ReviewImage",
    "Thumbnail", "THUMBNAIL_EDGE", "BatchVerification", "PlanVerify", "VerifyBatch", "VerifyCounts",
    "VerifyJobInput", "VerifyPlan", "VerifyProgress", "VerifyReport", "VerifyRequest", "VerifyStart",
    "VerifyStarted", "VerifyStatus", "ArchiveReport", "CheckpointQuery", "CheckpointStats",
    "CheckpointView", "ChunkList", "DeleteReport", "KeywordList", "KeywordProgress", "Percentiles",
    "Snapshot", "SnapshotInfo", "StaleReport", "TierReport", "TierUsage",
]
