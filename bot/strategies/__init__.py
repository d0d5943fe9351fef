"""bot/strategies package."""
