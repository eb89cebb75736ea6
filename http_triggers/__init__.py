"""HTTP triggers: one module per resource, all on one blueprint.

Importing this package registers every route and installs the two hooks the route decorator
needs: the authenticator (bearer JWT or API key) and the rate limiter (Cosmos counters).
"""

from http_triggers._api import set_authenticator, set_rate_limiter
from http_triggers._auth import authenticate, count_call
from http_triggers._blueprint import blueprint
from http_triggers import api_keys, checkpoints, docs, health, jobs, notifications  # noqa: F401  (register routes)
from http_triggers import datasets  # noqa: F401
from http_triggers import validation  # noqa: F401
from http_triggers import review, ui  # noqa: F401

set_authenticator(authenticate)
set_rate_limiter(count_call)

__all__ = ["blueprint"]
