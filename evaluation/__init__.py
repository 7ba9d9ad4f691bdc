"""Evaluation harness: gold-set loading, ranking metrics and benchmarks (lands with its own issue)."""
