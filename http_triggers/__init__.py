"""HTTP triggers: one module per resource, all on one blueprint."""

from http_triggers._blueprint import blueprint
from http_triggers import health  # noqa: F401  (registers its routes)

__all__ = ["blueprint"]
