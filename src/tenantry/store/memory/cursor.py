"""Whether a record comes after a cursor's position, in the memory store's lists.

Positions and cursors are the stores' common ones (`tenantry.store.cursor`), so a cursor
reads the same on every store.
"""

from __future__ import annotations

from tenantry.store.cursor import Position


def follows(position: Position, after: Position | None) -> bool:
    """Whether an ascending list shows `position` after the cursor's `after`."""
    return after is None or position > after


def follows_newest_first(position: Position, after: Position | None) -> bool:
    """Whether a newest-first list (time descending, then id ascending) shows `position`
    after the cursor's `after`."""
    if after is None:
        return True
    (moment, key), (after_moment, after_key) = position, after
    return moment < after_moment or (moment == after_moment and key > after_key)
