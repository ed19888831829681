"""The toolkit's release (``pyproject.toml``'s ``version``; a test keeps the two equal), recorded in every store,
manifest and result file it writes."""

__version__ = "0.2.0"
