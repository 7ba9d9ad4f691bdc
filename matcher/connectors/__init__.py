"""Connectors: harvesting partners' databases into Pollinate, and publishing Pollinate's records as feeds."""
