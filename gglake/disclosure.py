"""Small-cell suppression: the one rule every public-facing number passes through.

A count of fewer than SMALL_CELL residents could single a person out in a district, so it is published
as null with the row's `suppressed` flag set; so is every figure computed from a suppressed count (a rate
whose numerator or denominator was suppressed would give the count back). The serving datasets apply it
when they are published and the KPI report reads only those datasets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

SMALL_CELL = 5
FLAG = "suppressed"


def suppress(data: pa.Table, counts: Sequence[str], derived: Mapping[str, Sequence[str]] = ()) -> tuple[pa.Table, int]:
    """`data` with every count below SMALL_CELL (zero included) and every figure derived from one set to
    null, plus a boolean `suppressed` column; returns the table and how many cells were suppressed."""
    derived = dict(derived)
    small = {c: pc.fill_null(pc.less(data[c], SMALL_CELL), False) for c in counts}
    hidden = dict(small)
    for column, bases in derived.items():
        masks = [small[b] for b in bases]
        hidden[column] = masks[0] if len(masks) == 1 else _any(masks)
    cells = 0
    for column, mask in hidden.items():
        cells += pc.sum(pc.and_(mask, pc.is_valid(data[column]))).as_py() or 0
        index = data.schema.get_field_index(column)
        data = data.set_column(index, column, pc.if_else(mask, pa.scalar(None, data[column].type), data[column]))
    flag = _any(list(small.values())) if small else pa.array([False] * data.num_rows)
    return data.append_column(FLAG, flag), cells


def _any(masks: list) -> pa.ChunkedArray:
    out = masks[0]
    for mask in masks[1:]:
        out = pc.or_(out, mask)
    return out
