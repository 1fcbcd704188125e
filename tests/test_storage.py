"""storage.py: the one atomic-write path and the one JSON-able conversion."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gymnasium_llmconfig.storage import atomic_file, atomic_write, jsonable


def test_atomic_file_replaces_on_success_and_keeps_the_old_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "table.bin"
    atomic_write(target, lambda handle: handle.write(b"old"), binary=True)
    with pytest.raises(RuntimeError, match="checksum"), atomic_file(target, binary=True) as handle:
        handle.write(b"half of the new")
        raise RuntimeError("checksum does not match")
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["table.bin"]  # no temp file left behind
    with atomic_file(target) as handle:
        handle.write("new\n")
    assert target.read_text() == "new\n"


def test_jsonable_hand_values() -> None:
    value = {"a": np.float64(0.5), 3: (np.int64(2), {np.bool_(True)}), "nan": math.nan, "arr": np.arange(2),
             "inf": np.float32("inf"), "path": Path("x")}
    assert jsonable(value) == {"a": 0.5, "3": [2, [True]], "nan": None, "arr": [0, 1], "inf": None, "path": "x"}


scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(), st.text(max_size=5),
                    st.floats(width=32).map(np.float32), st.integers(-100, 100).map(np.int64))
nested = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                                                        st.dictionaries(st.text(max_size=3), inner, max_size=3)),
                      max_leaves=12)


@given(nested)
def test_jsonable_output_is_strict_json_and_a_fixed_point(value: object) -> None:
    plain = jsonable(value)
    assert json.loads(json.dumps(plain, allow_nan=False)) == plain
    assert jsonable(plain) == plain
