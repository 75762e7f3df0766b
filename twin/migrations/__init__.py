"""Alembic migrations owning the database schema; SQL bodies live in ``sql/``."""
