"""Batch jobs: re-rank and re-embed runs, where they execute, and capacity-aware assignment."""
