"""MetaBO: PPO-trained neural acquisition function on the shipped Micro envs (tiny training runs, real episodes)."""

from __future__ import annotations

from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch
from botorch.models import SingleTaskGP
from gymnasium.utils.env_checker import check_env

import gymnasium_llmconfig  # noqa: F401  (registers the envs)
from agents.base import run_episode
from agents.bo_episode import TrainingTable
from agents.features import TransferEncoder
from agents.gp import posterior_mean_std
from agents.metabo import (
    N_GP_FEATURES,
    AcquisitionEnv,
    CandidatePolicy,
    CandidateScorer,
    GPSettings,
    MetaBO,
    candidate_features,
    gp_posterior,
)
from agents.zoo import make_agent
from gymnasium_llmconfig.training_data import TrainingSet

TRAIN = ("LLMConfig-Micro-S-D250K-v0", "LLMConfig-Micro-M-D250K-v0")
TEST = "LLMConfig-Micro-L-D750K-v0"
BUDGET = 5


@pytest.fixture(scope="module")
def fitted() -> MetaBO:
    agent = MetaBO(timesteps=256, n_candidates=16, seed=0)
    agent.fit(TrainingSet.from_env_ids(TRAIN))
    return agent


def tables(seed: int = 0) -> list[TrainingTable]:
    envs = list(TrainingSet.from_env_ids(TRAIN))
    encoder = TransferEncoder([e.space for e in envs])
    return [TrainingTable(e, encoder, np.random.default_rng(seed)) for e in envs]


def play(agent: MetaBO, seed: int = 3) -> list[dict]:
    return run_episode(gymnasium.make(TEST, budget=BUDGET), agent, seed=seed)


def configs_of(infos: list[dict]) -> list[tuple]:
    return [tuple(sorted(info["config"].items())) for info in infos]


def test_fitted_agent_plays_valid_distinct_configs(fitted: MetaBO) -> None:
    infos = play(fitted)
    assert len(infos) == BUDGET
    assert all(info["valid"] and not info["repeat"] for info in infos)
    assert len(set(configs_of(infos))) == BUDGET
    regrets = [info["normalized_regret"] for info in infos]
    assert all(0.0 <= r <= 1.0 for r in regrets)
    assert regrets == sorted(regrets, reverse=True)  # best-so-far regret never grows
    assert list(fitted.tasks) == ["Micro"]  # one policy per task, as MetaBO trains one per function class
    settings = fitted.tasks["Micro"].gp_settings
    assert 0.01 < settings.lengthscale_factor < 10 and 1e-5 < settings.noise < 1


def test_inputs_are_metabos_and_the_scorer_is_not_flat(fitted: MetaBO) -> None:
    """alpha(mu, sigma, x, t, T): the trained scorer gives candidates with different inputs different scores."""
    rng = np.random.default_rng(0)
    task = fitted.tasks["Micro"]
    x = rng.random((20, 2))
    features = candidate_features(rng.random((3, 2)), [0.1, 0.5, 0.2], x, x, 0.6, 1.0, task.gp_settings)
    assert features.shape == (20, N_GP_FEATURES + 2)
    assert np.allclose(features[:, 2], 0.6) and np.allclose(features[:, 3], 1.0)
    assert np.allclose(features[:, 4:], x)
    scorer = CandidateScorer(N_GP_FEATURES + task.encoder.dim, fitted.hidden)
    scorer.load_state_dict(task.scorer)
    logits = scorer.forward_actor(torch.as_tensor(features).reshape(1, -1)).detach().numpy()[0]
    assert logits.shape == (20,) and np.ptp(logits) > 1e-6
    prior = candidate_features(np.zeros((0, 2)), [], x, x, 0.0, 0.2, task.gp_settings)
    assert np.allclose(prior[:, 0], 0.0) and np.allclose(prior[:, 1], 1.0)  # no data: the GP prior


def test_features_are_botorch_single_task_gp_posterior() -> None:
    """The fast torch posterior is BoTorch's SingleTaskGP with the same fixed hyperparameters."""
    rng = np.random.default_rng(1)
    settings = GPSettings(lengthscale_factor=0.3, noise=1e-3)
    x_seen, x_candidates = rng.random((4, 3)), rng.random((50, 3))
    utilities = rng.standard_normal(4)
    z = (utilities - utilities.mean()) / utilities.std()
    model = SingleTaskGP(torch.as_tensor(x_seen), torch.as_tensor(z).reshape(-1, 1), outcome_transform=None)
    model.covar_module.lengthscale = 0.3 * np.sqrt(3)
    model.likelihood.noise = 1e-3
    model.eval()
    mean, std = posterior_mean_std(model, x_candidates)
    ours_mean, ours_std = gp_posterior(x_seen, z, x_candidates, settings)
    assert np.allclose(ours_mean.numpy(), mean, atol=1e-6) and np.allclose(ours_std.numpy(), std, atol=1e-6)
    features = candidate_features(x_seen, utilities, x_candidates, x_candidates, 0.8, 1.0, settings)
    assert np.allclose(features[:, 0], mean, atol=1e-5) and np.allclose(features[:, 1], std, atol=1e-5)


def test_policy_is_permutation_invariant_and_optimizes_the_scorer() -> None:
    n, n_features = 8, N_GP_FEATURES + 2
    obs_space = gymnasium.spaces.Box(-np.inf, np.inf, (n, n_features), np.float32)
    policy = CandidatePolicy(obs_space, gymnasium.spaces.Discrete(n), lambda _: 3e-4, hidden=16)
    assert isinstance(policy.action_net, torch.nn.Identity)
    optimized = {id(p) for group in policy.optimizer.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in policy.parameters()}
    assert {id(p) for p in policy.mlp_extractor.actor.parameters()} <= optimized
    obs = torch.randn(2, n, n_features)
    obs[:, :, 2:4] = obs[:, :1, 2:4]  # t / T and T are the same for every candidate of a state
    order = torch.randperm(n)
    with torch.no_grad():
        logits = policy.get_distribution(obs).distribution.logits
        permuted = policy.get_distribution(obs[:, order]).distribution.logits
        assert torch.allclose(permuted, logits[:, order], atol=1e-6)
        assert torch.allclose(policy.predict_values(obs[:, order]), policy.predict_values(obs), atol=1e-6)


@pytest.mark.filterwarnings("ignore:.*Box observation space")  # GP features are unbounded on purpose
def test_training_env_rewards_are_negative_simple_regrets() -> None:
    """MetaBO's reward r_t = -R_t: an episode returns the negative cumulative (normalized) simple regret."""
    env = AcquisitionEnv(tables(), n_candidates=8, horizon=4, settings=GPSettings())
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=1)
    assert obs.shape == (8, N_GP_FEATURES + 2) and np.isfinite(obs).all()
    assert np.allclose(obs[:, 0], 0.0) and np.allclose(obs[:, 2], 0.0)  # the policy makes the first choice too
    rewards, regrets, done = [], [], False
    while not done:
        obs, reward, done, _, info = env.step(0)
        rewards.append(reward)
        regrets.append(info["normalized_regret"])
    assert rewards == [-r for r in regrets] and regrets == sorted(regrets, reverse=True)
    assert len(rewards) == env.episode.budget == len(env.episode.tried)  # candidates are always untried
    budgets = set()
    for seed in range(30):
        env.reset(seed=seed)
        budgets.add(env.episode.budget)
    assert budgets == {1, 2, 3, 4}


def test_save_load_round_trip_gives_same_proposals(fitted: MetaBO, tmp_path: Path) -> None:
    """The policy is a safetensors state dict plus JSON (no zip, no pickle); reloaded, it plays the same."""
    fitted.save(tmp_path / "metabo")
    assert sorted(p.name for p in (tmp_path / "metabo").iterdir()) == ["agent.json", "tensors.safetensors"]
    loaded = MetaBO.load(tmp_path / "metabo")
    assert (loaded.n_candidates, loaded.timesteps) == (16, 256)
    assert loaded.tasks["Micro"].gp_settings == fitted.tasks["Micro"].gp_settings
    for seed in (3, 7):
        assert configs_of(play(loaded, seed)) == configs_of(play(fitted, seed))


def test_ppo_hyperparameters_are_constructor_arguments() -> None:
    agent = make_agent("metabo", learning_rate=3e-4, n_steps=128, neighbour_share=0.5)
    assert (agent.learning_rate, agent.n_steps, agent.neighbour_share, agent.gamma) == (3e-4, 128, 0.5, 1.0)


def test_same_seed_same_policy(fitted: MetaBO) -> None:
    again = MetaBO(timesteps=256, n_candidates=16, seed=0)
    again.fit(TrainingSet.from_env_ids(TRAIN))
    for name, value in fitted.tasks["Micro"].scorer.items():
        assert torch.equal(value, again.tasks["Micro"].scorer[name]), name


def test_unfitted_agent_says_how_to_fix_it() -> None:
    agent = make_agent("metabo")
    assert isinstance(agent, MetaBO)
    with pytest.raises(RuntimeError, match=r"call fit\(training_set\) first, or MetaBO.load"):
        play(agent)
