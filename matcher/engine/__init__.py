"""The ranking engine: one need against the offer catalogue, and why each offer ranks where it does."""
