"""The benchmarks (``pollinate bench …``): embedding, index, API and jobs."""
