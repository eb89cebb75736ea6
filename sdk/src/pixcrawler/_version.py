"""The version of the pixcrawler package."""

__version__ = "0.1.0"
