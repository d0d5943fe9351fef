"""Sinks: where the tee sends each serialised event (console, JSONL file, PostgreSQL, reducer)."""
