"""ArchConfigSpace: strict canonicalisation, sampling, encoding and near-miss repair."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gymnasium_llmconfig.config_space import InvalidConfig
from gymnasium_llmconfig.tasks.arch.space import ArchConfigSpace

SPACES = {s: ArchConfigSpace(s) for s in ("s", "m", "l")}
FAST = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

scales = st.sampled_from(sorted(SPACES))
seeds = st.integers(0, 2**32 - 1)


@FAST
@given(scales, seeds)
def test_sample_is_contained_and_canonical(scale: str, seed: int) -> None:
    space = SPACES[scale]
    cfg = space.sample(np.random.default_rng(seed))
    assert space.contains(cfg)
    assert space.canonicalize(cfg) == cfg
    assert len(cfg["heads"]) == len(cfg["mlp_ratios"]) == cfg["n_layer"]


@FAST
@given(scales, seeds, st.booleans())
def test_canonicalize_idempotent_and_accepts_json_forms(scale: str, seed: int, as_strings: bool) -> None:
    space = SPACES[scale]
    cfg = space.sample(np.random.default_rng(seed))
    raw = json.loads(json.dumps(cfg))
    if as_strings:  # the API's / CSV's form: lists as JSON text, bias as "True"/"false"
        raw = {
            "Embed_Dim": str(raw["embed_dim"]),
            "n_layer": float(raw["n_layer"]),
            "heads": json.dumps(raw["heads"]),
            "mlp_ratios": json.dumps(raw["mlp_ratios"]),
            "bias": "True" if raw["bias"] else "false",
        }
    once = space.canonicalize(raw)
    assert once == cfg
    assert space.canonicalize(once) == once
    assert space.key(once) == space.key(cfg)
    hash(space.key(once))
    assert space.canonicalize(json.loads(space.canonical_text(once))) == once


@FAST
@given(scales, seeds)
def test_encode_fixed_length_in_unit_cube(scale: str, seed: int) -> None:
    space = SPACES[scale]
    rng = np.random.default_rng(seed)
    configs = [space.sample(rng) for _ in range(4)]
    enc = np.stack([space.encode(c) for c in configs])
    assert enc.shape == (4, space.dim)
    assert np.all((enc >= 0) & (enc <= 1))
    np.testing.assert_array_equal(enc, space.encode_batch(space.to_batch(configs)))


@st.composite
def slipped(draw: st.DrawFn) -> tuple[ArchConfigSpace, dict, dict]:
    """A valid config and a typical LLM slip of it."""
    space = SPACES[draw(scales)]
    cfg = space.sample(np.random.default_rng(draw(seeds)))
    raw: dict = json.loads(json.dumps(cfg))
    for name in ("heads", "mlp_ratios"):
        change = draw(st.sampled_from(["keep", "truncate", "extend", "perturb", "scalar", "string"]))
        values = raw[name]
        if change == "truncate":
            values = values[: draw(st.integers(1, len(values)))]
        elif change == "extend":
            values = values + draw(st.lists(st.integers(1, 64), min_size=1, max_size=5))
        elif change == "perturb":
            i = draw(st.integers(0, len(values) - 1))
            values = [*values[:i], draw(st.integers(-5, 100)), *values[i + 1 :]]
        elif change == "scalar":
            values = values[0]
        elif change == "string":
            values = json.dumps(values)
        raw[name] = values
    if draw(st.booleans()):
        raw["n_layer"] = draw(st.integers(1, 60))
    if draw(st.booleans()):
        raw["embed_dim"] = draw(st.integers(1, 5000))
    if draw(st.booleans()):
        del raw["bias"]
    if draw(st.booleans()):
        raw["num_heads"] = raw.pop("heads")
        raw["n_layers"] = raw.pop("n_layer")
    return space, cfg, raw


@FAST
@given(slipped())
def test_nearest_of_a_slip_is_valid(case: tuple[ArchConfigSpace, dict, dict]) -> None:
    space, _, raw = case
    fixed = space.nearest(raw)
    assert fixed is not None
    assert space.canonicalize(fixed) == fixed
    assert space.nearest(fixed) == fixed
    if "bias" not in raw:
        assert fixed["bias"] is False


def test_nearest_rules() -> None:
    space = SPACES["s"]
    fixed = space.nearest({"embed_dim": 400, "n_layer": 10, "heads": [4, 8, 13], "mlp_ratios": [5] * 14})
    assert fixed == {
        "embed_dim": 384,
        "n_layer": 10,
        "heads": [4, 8, 12] + [12] * 7,  # padded by repeating the last value
        "mlp_ratios": [4] * 10,  # truncated, snapped
        "bias": False,  # missing -> False
    }
    inferred = space.nearest({"d_model": 768, "num_heads": [8] * 11, "mlp_ratio": 3, "bias": "True"})
    assert inferred is not None and inferred["n_layer"] == 11 and inferred["mlp_ratios"] == [3] * 11
    assert inferred["bias"] is True
    assert space.nearest({"heads": [4], "mlp_ratios": [2]}) is None  # no width
    assert space.nearest({"embed_dim": 192, "heads": "many", "mlp_ratios": [2]}) is None
    assert space.nearest({}) is None
    assert space.nearest("embed_dim=192") is None  # type: ignore[arg-type]


def test_invalid_messages_name_problem_and_allowed_values() -> None:
    space = SPACES["s"]
    good = {"embed_dim": 192, "n_layer": 10, "heads": [4] * 10, "mlp_ratios": [2] * 10, "bias": False}
    with pytest.raises(InvalidConfig, match=r"heads has 9 entries but n_layer=10") as err:
        space.canonicalize({**good, "heads": [4] * 9})
    assert "[4, 8, 12]" in str(err.value)
    with pytest.raises(InvalidConfig, match=r"mlp_ratios\[3\]=5 .*one of \[2, 3, 4\]"):
        space.canonicalize({**good, "mlp_ratios": [2, 2, 2, 5] + [2] * 6})
    with pytest.raises(InvalidConfig, match=r"embed_dim=200 .*\[192, 384, 768\]"):
        space.canonicalize({**good, "embed_dim": 200})
    with pytest.raises(InvalidConfig, match=r"n_layer=13 .*\[10, 11, 12\]"):
        space.canonicalize({**good, "n_layer": 13})
    with pytest.raises(InvalidConfig, match=r"missing parameter\(s\) \['bias'\]"):
        space.canonicalize({k: v for k, v in good.items() if k != "bias"})
    with pytest.raises(InvalidConfig, match=r"unknown parameter\(s\) \['dropout'\]"):
        space.canonicalize({**good, "dropout": 0.1})
    with pytest.raises(InvalidConfig, match=r"did you mean 'n_layers' -> 'n_layer'"):
        space.canonicalize({**{k: v for k, v in good.items() if k != "n_layer"}, "n_layers": 10})
    with pytest.raises(InvalidConfig, match="bias must be true or false"):
        space.canonicalize({**good, "bias": "maybe"})
    assert space.canonicalize({**good, "heads": 4}) == good  # one number means it for every layer
    with pytest.raises(InvalidConfig, match="must be a list of 10 integers"):
        space.canonicalize({**good, "heads": {"all": 4}})
    with pytest.raises(InvalidConfig, match="GPT-S"):
        space.canonicalize({**good, "scale": "l"})
    assert space.canonicalize({**good, "scale": "GPT-S"}) == good
    with pytest.raises(InvalidConfig, match="JSON object"):
        space.canonicalize([192])  # type: ignore[arg-type]


def test_sampling_is_uniform_per_decision() -> None:
    space = SPACES["m"]
    rng = np.random.default_rng(0)
    configs = [space.sample(rng) for _ in range(3000)]
    for name, choices in (("embed_dim", space.spec.embed_dims), ("n_layer", space.spec.n_layers)):
        counts = np.array([sum(c[name] == v for c in configs) for v in choices])
        assert np.all(np.abs(counts / 3000 - 1 / 3) < 0.04)
    assert abs(np.mean([c["bias"] for c in configs]) - 0.5) < 0.04
    heads = np.concatenate([c["heads"] for c in configs])
    assert all(abs(np.mean(heads == h) - 1 / 3) < 0.02 for h in space.spec.heads)
    batch = space.sample_batch(rng, 3000)
    assert abs(np.mean(batch.bias) - 0.5) < 0.04
    for c in batch.configs()[:50]:
        assert space.canonicalize(c) == c


def test_corners_and_describe() -> None:
    for space in SPACES.values():
        corners = space.corners()
        assert len({space.key(c) for c in corners.configs()}) == 32
        assert int(corners.flops().min()) == space.min_flops and int(corners.flops().max()) == space.max_flops
        text = space.describe()
        spec = space.spec
        for values in (spec.embed_dims, spec.n_layers, spec.heads):
            assert ", ".join(map(str, values)) in text
        example = json.loads(text.rsplit("Example: ", 1)[1])
        assert space.contains(example)
        assert space.dim == 6 + 2 * spec.lmax
