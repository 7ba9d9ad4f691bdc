"""The records: needs, offers and organisations, their interchange format, bulk import/export, the demo corpus."""
