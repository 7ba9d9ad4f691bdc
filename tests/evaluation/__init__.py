"""Tests of the evaluation package: benchmarks and their command line."""
