"""bot/strategies/funding_arbitrage package."""
