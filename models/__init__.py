"""Data layer: SQLAlchemy ORM, vocabularies, repositories, database and migrations. Imports nothing of ours."""
