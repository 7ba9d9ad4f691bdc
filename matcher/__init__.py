"""The engine: records, bulk import/export, services, ranking and the ``pollinate`` CLI."""
