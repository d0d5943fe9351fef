"""Numbered PostgreSQL migrations (``001_dashboard.sql`` …), shipped as package data.

Applied by ``logging_pipeline.postgres.migrations.upgrade``; this package holds no code.
"""
