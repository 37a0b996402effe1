"""Hostile input generators shared by the fuzz properties."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Every Unicode general category, so that each property meets control characters, surrogates,
# format characters (bidi overrides), private use, unassigned code points…
CATEGORIES = (
    "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe",
    "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn",
)  # fmt: skip

SPECIAL = ["\x00", "a\x00b", "\x1b[2J", "\u202e", "\ud800", "\udfff", "\ufeff", "\u0085", "é" * 40]
short_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(CATEGORIES).flatmap(
        lambda c: st.text(st.characters(categories=[c]), min_size=1, max_size=10)  # type: ignore[list-item]
    ),
    st.sampled_from(SPECIAL),
)
# Long strings cost generation time: only where a property asks for any_text.
any_text = short_text | st.text(st.characters(codec="utf-8"), min_size=1000, max_size=5000)

huge_numbers = st.one_of(
    st.integers(min_value=-(2**200), max_value=2**200),
    st.sampled_from([2**31, 2**31 - 1, 2**32, 2**62, 2**62 + 1, 2**63, 2**63 - 1, 2**64, -(2**63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, 1e400, -1e400]),
)

scalars = st.one_of(st.none(), st.booleans(), huge_numbers, short_text)

json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(short_text, children, max_size=5)
    ),
    max_leaves=30,
)


def dumps(value: Any) -> bytes:
    """JSON text of value, with NaN/Infinity and lone surrogates as Python writes them."""
    return json.dumps(value, allow_nan=True).encode()


@st.composite
def deep(draw: st.DrawFn) -> bytes:
    """Nested brackets and objects, from harmless to far past any recursion limit."""
    depth = draw(st.integers(min_value=1, max_value=6000))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b'{"readings":[', b"]}")]))
    inner = draw(st.sampled_from([b"1", b'{"ts": 1, "tips": 1}', b"", b"null"]))
    closed = draw(st.booleans())
    return opener * depth + inner + (closer * depth if closed else b"")
