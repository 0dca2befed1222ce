"""askdocs core: the domain model and settings every stage shares (imports nothing of the stages)."""

__version__ = "0.1.0"
