"""The ``pollinate`` command line."""
