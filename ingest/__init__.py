"""Ingest stage: chunk documents, embed them, and keep the index in step with each source."""
