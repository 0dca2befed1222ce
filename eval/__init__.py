"""Retrieval evaluation: BEIR-format datasets, metrics and the embedder-choice benchmark."""
