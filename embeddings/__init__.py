"""Sentence embeddings behind an ``Embedder`` protocol (the backends land with the matching engine)."""
