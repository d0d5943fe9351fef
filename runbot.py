#!/usr/bin/env python3
"""Thin entry: ``python runbot.py --config configs/funding_arb_paper.yml`` (same as the ``runbot`` command)."""

from arbdash.tools.runbot_cli import main

if __name__ == "__main__":
    main()
