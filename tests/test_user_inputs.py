"""What a person types meets one rule: budgets, learning rates on log grids, config ids (issue 17)."""

from __future__ import annotations

import gymnasium
import pytest
from conftest import require_data
from hypothesis import given
from hypothesis import strategies as st

import gymnasium_llmconfig  # noqa: F401 (registers the envs)
from gymnasium_llmconfig.config_space import LOG_GRID_REL_TOL, InvalidConfig, Parameter
from gymnasium_llmconfig.env import InvalidBudget

MICRO = "LLMConfig-Micro-S-D250K-v0"
PRETRAIN = "LLMConfig-Pretrain-N429M-D50B-v0"
LR = Parameter("lr", tuple(2.0 ** -k for k in range(3, 13)), log=True)  # Micro's grid: 2^-12 .. 2^-3


@pytest.mark.parametrize("budget", [0, -3, 2.5, True, "5"])
def test_make_rejects_a_bad_budget_with_the_allowed_range(budget: object) -> None:
    with pytest.raises(gymnasium.error.Error, match=r"budget=.* is not allowed for LLMConfig-Micro-S-D250K-v0: "
                                                    r"the budget is the number of trials T, an integer >= 1"):
        gymnasium.make(MICRO, budget=budget)
    with pytest.raises(InvalidBudget):  # also a ValueError, as before
        gymnasium.make(MICRO).unwrapped.set_budget(0)


def test_micro_accepts_a_rounded_learning_rate() -> None:
    env = gymnasium.make(MICRO, budget=1)
    prompt, _ = env.reset(seed=0)
    assert f"(a value within {LOG_GRID_REL_TOL:.0%} of one counts as it)" in prompt
    *_, info = env.step('{"lr": 0.002, "batch_size": 16}')
    assert info["valid"] and info["config"] == {"lr": 2.0 ** -9, "batch_size": 16}


def test_pretrain_keeps_reading_0_00195_as_2_pow_minus_9_and_offers_no_unlisted_config_id() -> None:
    require_data("steplaw/dense_lr_bs_loss.csv")
    env = gymnasium.make(PRETRAIN, budget=1)
    prompt, _ = env.reset(seed=0)
    assert "config_id" not in prompt  # the Pretrain prompt lists no configurations to pick by position
    assert "Only 113 of the 120 combinations were run; a config must be one of them." in prompt
    *_, info = env.step('{"lr": 0.00195, "bs": 128}')
    assert info["valid"] and info["config"]["lr"] == 2.0 ** -9


def test_config_id_is_offered_where_the_configurations_are_listed() -> None:
    require_data("admire/admire_ift_runs.csv")
    prompt, _ = gymnasium.make("LLMConfig-Mixture-Qwen7B-v0", budget=1).reset(seed=0)
    assert '{"config_id": k} for the k-th:' in prompt and "\n#0: " in prompt
    assert "config_id" not in gymnasium.make(MICRO, budget=1).reset(seed=0)[0]  # a full grid lists none


def test_value_outside_the_tolerance_names_the_nearest_allowed_values() -> None:
    with pytest.raises(InvalidConfig, match=r"lr=0.0025 is not an allowed value; the nearest allowed are "
                                            r"0.001953 or 0.003906 \(a value within 5% of one counts as it\)"):
        LR.snap(0.0025)
    with pytest.raises(InvalidConfig, match=r"lr=0.5 is not an allowed value; the nearest allowed is 0.125 "):
        LR.snap(0.5)


@given(k=st.integers(3, 12), offset=st.floats(-0.9999 * LOG_GRID_REL_TOL, 0.9999 * LOG_GRID_REL_TOL))
def test_every_value_within_the_tolerance_snaps_to_its_grid_value(k: int, offset: float) -> None:
    assert LR.snap(2.0 ** -k * (1 + offset)) == 2.0 ** -k


@given(k=st.integers(3, 12), offset=st.floats(1.0001 * LOG_GRID_REL_TOL, 0.4))
def test_every_value_beyond_the_tolerance_is_refused(k: int, offset: float) -> None:
    with pytest.raises(InvalidConfig, match="nearest allowed"):
        LR.snap(2.0 ** -k * (1 + offset))


def test_integer_and_linear_parameters_stay_exact() -> None:
    batch = Parameter("batch_size", (8, 16, 32, 64), kind="int", log=True)
    assert batch.rel_tol == 0.0 and batch.snap(16) == 16
    with pytest.raises(InvalidConfig, match="the nearest allowed are 16 or 32; choose one of"):
        batch.snap(17)


def test_arch_accepts_one_number_for_every_layer_as_the_prompt_explains() -> None:
    require_data("hwgpt/perplexity_s.pt")
    env = gymnasium.make("LLMConfig-Arch-GPTS-v0", budget=1)
    prompt, _ = env.reset(seed=0)
    assert "Short form: one number instead of a heads or mlp_ratios list means that value for every layer" in prompt
    *_, info = env.step('{"embed_dim": 384, "n_layer": 10, "heads": 8, "mlp_ratios": "4", "bias": true}')
    assert info["valid"] and info["config"] == {"embed_dim": 384, "n_layer": 10, "heads": [8] * 10,
                                                "mlp_ratios": [4] * 10, "bias": True}
    space = env.unwrapped.card.space
    assert space.canonicalize({**info["config"], "heads": 8}) == space.canonicalize(info["config"])
    with pytest.raises(InvalidConfig, match=r"heads\[0\]=6.0, .* not allowed; each heads entry must be one of"):
        space.canonicalize({**info["config"], "heads": 6})
