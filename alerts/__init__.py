"""Alerts that reach the operator (issue 13): rules on the reducer's snapshot, fired and resolved as events,
delivered through apprise by a worker that never blocks the bot.

* ``alerts.figures`` — the figures a rule may watch, each read from a ``DashboardSnapshot`` (net PnL drawdown from
  its peak, a position's profit erosion or price divergence, the funding gap, a leg's liquidation distance, a
  degraded sink, a stalled bot, a session ended in error);
* ``alerts.config`` — the ``alerts:`` block of the config (rules, notification URLs), checked before the run;
* ``alerts.engine`` — ``AlertEngine``: which alerts fire and resolve for a snapshot (severity, cooldown,
  de-duplication per rule and position), deterministic for a given sequence of snapshots;
* ``alerts.notify`` — ``Notifier``: a worker thread with a bounded queue that delivers through apprise
  (Telegram, Slack, Discord, e-mail, JSON webhooks …) with retries, counting what it could not deliver.

Data flows one way: the reducer's snapshot → the engine → ``alert.fired`` / ``alert.resolved`` events (so the
JSONL, PostgreSQL and every replay show them) and the notifier's queue. Nothing here writes into the bot.
"""
