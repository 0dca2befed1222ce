"""Retrieval stage: text analysis, embedders, the Qdrant index facade, hybrid search and answers."""
