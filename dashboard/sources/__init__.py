"""Event sources for replay: a JSONL file (``jsonl``) and PostgreSQL (``postgres``), all feeding the same reducer."""
