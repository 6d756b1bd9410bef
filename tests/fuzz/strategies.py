"""Hypothesis strategies for contract values, shared by the property tests in this folder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

names = st.from_regex(r"^[a-z0-9][a-z0-9-]{0,31}$", fullmatch=True)
shorts = st.text(max_size=64)
hex64 = st.from_regex(r"^[0-9a-f]{64}$", fullmatch=True)
zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))])
# the contract's range of plausible times (contract.messages.Time), a day inside each end for the offsets
moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2999, 12, 30), timezones=zones)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
