"""One pydantic model per concept, one module per area; everything is re-exported here.

HTTP bodies, Cosmos documents and activity payloads are these models (or explicit projections
of them). Orchestrators and entities may import this package; it imports only pydantic and the
standard library so that it stays deterministic and cheap to load.

Example::

    from shared.models import JobCreate, plan_chunks
    job = JobCreate.model_validate({"name": "pets", "keywords": ["cat"], "sources": ["wikimedia"]})
    chunks = plan_chunks("job-1", job)
"""

from shared.models.base import *  # noqa: F401,F403
from shared.models.jobs import *  # noqa: F401,F403
from shared.models.images import *  # noqa: F401,F403
from shared.models.validation import *  # noqa: F401,F403
from shared.models.progress import *  # noqa: F401,F403
from shared.models.api import *  # noqa: F401,F403
from shared.models.datasets import *  # noqa: F401,F403
from shared.models.review import *  # noqa: F401,F403
from shared.models.verify import *  # noqa: F401,F403
