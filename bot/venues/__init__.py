"""bot/venues package."""
