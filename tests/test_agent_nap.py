"""NAP: the transformer neural acquisition process, meta-trained on the shipped Micro envs (tiny runs, real envs)."""

from __future__ import annotations

import math
from pathlib import Path

import gymnasium
import pytest
import torch

import gymnasium_llmconfig  # noqa: F401  (registers the envs)
from agents.base import run_episode
from agents.nap import NAP, NeuralAcquisitionProcess, auxiliary_nll
from agents.zoo import make_agent
from gymnasium_llmconfig.training_data import TrainingSet

TRAIN = ("LLMConfig-Micro-S-D250K-v0", "LLMConfig-Micro-M-D250K-v0")
TEST = "LLMConfig-Micro-L-D750K-v0"
BUDGET = 5


@pytest.fixture(scope="module")
def fitted() -> NAP:
    agent = NAP(iterations=40, episodes=4, n_candidates=8, seed=0)
    agent.fit(TrainingSet.from_env_ids(TRAIN))
    return agent


def play(agent: NAP, seed: int = 3, budget: int = BUDGET) -> list[dict]:
    return run_episode(gymnasium.make(TEST, budget=budget), agent, seed=seed)


def configs_of(infos: list[dict]) -> list[tuple]:
    return [tuple(sorted(info["config"].items())) for info in infos]


def inputs(batch: int = 2, history: int = 3, n: int = 6, dim: int = 4, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, history, dim, generator=g), torch.randn(batch, history, generator=g),
            torch.rand(batch, n, dim, generator=g), torch.rand(batch, 2, generator=g))


def test_network_outputs_a_score_and_a_gaussian_per_candidate() -> None:
    network = NeuralAcquisitionProcess(dim=4, width=16, heads=2, layers=2).eval()
    scores, mean, log_std = network(*inputs())
    assert scores.shape == mean.shape == log_std.shape == (2, 6)
    empty = inputs(history=0)  # the first proposal: only the learned "no data" token is in the history
    assert network(*empty)[0].shape == (2, 6) and torch.isfinite(network(*empty)[0]).all()


def test_candidates_attend_to_the_history_not_to_each_other() -> None:
    network = NeuralAcquisitionProcess(dim=4, width=16, heads=2, layers=2).eval()
    history_x, history_y, candidates, time = inputs()
    with torch.no_grad():
        before = torch.stack(network(history_x, history_y, candidates, time))
        changed = candidates.clone()
        changed[:, 0] += 5.0  # move one candidate far away
        after = torch.stack(network(history_x, history_y, changed, time))
        assert torch.allclose(after[..., 1:], before[..., 1:], atol=1e-6)  # the others do not see it
        assert not torch.allclose(after[..., 0], before[..., 0])
        order = torch.randperm(6, generator=torch.Generator().manual_seed(1))
        permuted = torch.stack(network(history_x, history_y, candidates[:, order], time))
        assert torch.allclose(permuted, before[..., order], atol=1e-6)
        other_history = torch.stack(network(history_x, -history_y, candidates, time))
        assert not torch.allclose(other_history, before)  # but every candidate reads the history


def test_auxiliary_loss_is_the_gaussian_negative_log_likelihood() -> None:
    mean = torch.tensor([[0.0, 1.0]])
    log_std = torch.tensor([[0.0, math.log(2.0)]])
    target = torch.tensor([[1.0, 0.0]])
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    by_hand = [half_log_2pi + 0.0 + 0.5 * 1.0, half_log_2pi + math.log(2.0) + 0.5 * (1.0 / 2.0) ** 2]
    assert float(auxiliary_nll(mean, log_std, target)) == pytest.approx(sum(by_hand) / 2)
    assert by_hand == pytest.approx([1.4189385, 1.7370857])


def test_fitted_agent_plays_valid_distinct_configs_on_a_real_env(fitted: NAP) -> None:
    assert list(fitted.tasks) == ["Micro"]  # one network per task, meta-trained on that task's training envs
    infos = play(fitted)
    assert len(infos) == BUDGET
    assert all(info["valid"] and not info["repeat"] for info in infos)
    assert len(set(configs_of(infos))) == BUDGET
    regrets = [info["normalized_regret"] for info in infos]
    assert all(0.0 <= r <= 1.0 for r in regrets) and regrets == sorted(regrets, reverse=True)
    assert len(play(fitted, budget=1)) == 1


def test_fit_save_load_gives_the_same_proposals(fitted: NAP, tmp_path: Path) -> None:
    """Safetensors state dicts plus JSON (no pickle); reloaded, the agent plays the same configs."""
    fitted.save(tmp_path / "nap")
    assert sorted(p.name for p in (tmp_path / "nap").iterdir()) == ["agent.json", "tensors.safetensors"]
    loaded = NAP.load(tmp_path / "nap")
    assert (loaded.iterations, loaded.episodes, loaded.n_candidates) == (40, 4, 8)
    for seed in (3, 7):
        assert configs_of(play(loaded, seed)) == configs_of(play(fitted, seed))


def test_same_seed_same_network_other_seed_other_network(fitted: NAP) -> None:
    again = NAP(iterations=40, episodes=4, n_candidates=8, seed=0)
    again.fit(TrainingSet.from_env_ids(TRAIN))
    other = NAP(iterations=40, episodes=4, n_candidates=8, seed=1)
    other.fit(TrainingSet.from_env_ids(TRAIN))
    state = fitted.tasks["Micro"].state
    assert all(torch.equal(value, again.tasks["Micro"].state[name]) for name, value in state.items())
    assert not all(torch.equal(value, other.tasks["Micro"].state[name]) for name, value in state.items())


def test_hyperparameters_are_constructor_arguments_and_unfitted_agent_says_how_to_fix_it() -> None:
    agent = make_agent("nap", aux_weight=0.25, width=16, layers=1)
    assert isinstance(agent, NAP) and (agent.aux_weight, agent.width, agent.layers) == (0.25, 16, 1)
    with pytest.raises(RuntimeError, match=r"call fit\(training_set\) first, or NAP.load"):
        play(agent)
    with pytest.raises(ValueError, match="episodes >= 2"):
        NAP(episodes=1)
