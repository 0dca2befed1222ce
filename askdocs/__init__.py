"""askdocs core: the domain model and settings every stage shares (imports nothing of the stages).

The exception is ``askdocs.app``, the composition root that wires the stages together; nothing imports it but
the API, the CLI and the evaluation.
"""

__version__ = "0.1.0"
