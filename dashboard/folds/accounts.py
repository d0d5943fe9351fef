"""Venue accounts: each venue's collateral account as the bot last reported it (``account.updated``), in USD.

One account per venue, cross margined (it backs every leg on that venue; ``bot.venues``). The fold keeps the
figures as the bot computed them — equity = wallet + unrealized, margin ratio = maintenance / equity — and the
snapshot derives the headroom (equity − maintenance margin) from them. Transfers between accounts
(``position.rebalanced`` with an amount) are added by ``dashboard.folds.positions``.
"""

from __future__ import annotations

from typing import Any

from arbdash.dashboard.folds.base import at, dec, fold, opt_dec
from arbdash.dashboard.state import AccountState, DashboardState
from arbdash.logging_pipeline.events import AccountUpdated


@fold(AccountUpdated)
def on_account_updated(state: DashboardState, ev: Any) -> None:
    """Replace the venue's account figures (USD; ``margin_ratio`` a fraction, ``None`` when equity ≤ 0),
    keeping the transfers counted so far."""
    figures = dict(
        collateral=dec(ev.collateral_usd, "collateral_usd"),
        wallet=dec(ev.wallet_balance, "wallet_balance"),
        unrealized=dec(ev.unrealized_pnl, "unrealized_pnl"),
        equity=dec(ev.equity, "equity"),
        initial_margin=dec(ev.initial_margin, "initial_margin"),
        maintenance_margin=dec(ev.maintenance_margin, "maintenance_margin"),
        margin_ratio=opt_dec(ev.margin_ratio, "margin_ratio"),
        available=dec(ev.available_balance, "available_balance"),
    )
    acc = state.accounts.get(ev.venue)
    if acc is None:
        state.accounts[ev.venue] = AccountState(venue=ev.venue, updated_ts=at(ev), **figures)
        return
    for name, value in figures.items():
        setattr(acc, name, value)
    acc.updated_ts = at(ev)
