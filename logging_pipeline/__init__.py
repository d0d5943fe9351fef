"""logging_pipeline package."""
