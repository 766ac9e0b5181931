"""Numbered Alembic migrations, one linear history for every domain (`0001_…`, `0002_…`)."""
