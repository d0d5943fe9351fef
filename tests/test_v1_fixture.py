"""Old logs still read: a schema-v1 log written before the event catalogue moved to msgspec replays to the frame
it drew then.

``fixtures/v1_session.jsonl`` is cut from a real paper run (``runbot --config configs/funding_arb_paper.yml
--speed 0``, session 1d973310…, written by commit a720cf3): its first 1,480 lines without the mark prices and
funding rates older than the last three market hours of that stretch, the rollback story (lines 4,960–4,974),
every ``heartbeat`` and the ``dashboard.checkpoint`` (an old state form, which a replay must ignore), and the
run's last three lines. ``fixtures/v1_session.frame.<width>.txt`` is the natural-height frame (``frame_text``
without a height: what ``arbtail --once`` prints) drawn from it: first by that commit, redrawn on purpose when
the layout changed (issue 14: panes by priority, the closed positions' own pane, the decision figures — the log
is unchanged and every figure it carries is in the new frame; those it predates, such as the entry threshold and
the end of the minimum hold, are placeholders; issue 11: the funding table's "Last bp" label, margin used at the
mark).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.sources.jsonl import read_file

FIXTURES = Path(__file__).parent / "fixtures"
LOG = FIXTURES / "v1_session.jsonl"


@pytest.mark.parametrize("width", [160, 100])
def test_v1_log_replays_to_its_stored_frame(width: int) -> None:
    want = (FIXTURES / f"v1_session.frame.{width}.txt").read_text(encoding="utf-8")
    r = Reducer()
    read_file(LOG, r)
    assert r.stats.applied == 291 and not r.stats.skipped and not r.stats.rejected and not r.stats.unknown
    assert frame_text(r.snapshot(), width) == want


def test_v1_log_line_by_line_matches_the_block_replay() -> None:
    by_line = Reducer()
    for raw in LOG.read_bytes().splitlines():
        by_line.feed_line(raw)
    block = Reducer()
    read_file(LOG, block)
    assert frame_text(by_line.snapshot(), 160) == frame_text(block.snapshot(), 160)
