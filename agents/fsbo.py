"""FSBO: few-shot Bayesian optimization with a meta-learned deep-kernel GP (Wistuba & Grabocka, ICLR 2021).

Meta-training (``fit``). Training envs are grouped by task; each task gets one
deep-kernel GP (an MLP feature extractor feeding a Matérn-5/2 kernel) over
:class:`~agents.features.TransferEncoder` features, which put the same config
on the same coordinates at every fidelity of the task. The encoder's scaler is
fitted on the training spaces and kept frozen: test configs outside that range
land past [0, 1] instead of being rescaled, so the features the MLP learned on
keep their meaning. Every env plays the role of one of the paper's "tasks":
each meta step draws one env and a batch of its configs and takes an Adam step
on the GP's negative marginal log-likelihood. Targets are each env's utilities
(the metric signed so higher is better) through a Gaussian copula (rank ->
normal quantile), which makes envs with different loss scales and divergent
runs comparable and keeps the learned constant mean and output scale valid
for any env of the task. Table envs contribute every config; architecture
envs contribute a sample of ``arch_samples`` evaluated architectures.

Test time. A GP on no observations is its constant prior mean, so the first
proposal needs a warm start: FSBO's own is the meta-data, and here that is the
meta-trained GP conditioned on the data of the training env nearest the target
(closest fidelity role, then closest log10 fidelity metadata); the candidate
with the highest posterior mean is proposed. From the second proposal on the
GP is conditioned on the episode's own observations (copula-transformed like
the meta-data) after ``finetune_steps`` Adam steps on their marginal
likelihood from the meta-trained weights (with one observation there is
nothing to fine-tune), and log expected improvement is maximized over the
candidates of :func:`~agents.candidates.candidates_for`.

A task seen in no training env (or an agent never fitted) is played exactly
as ``gp-bo`` plays it: a random first proposal, then a plain GP with EI.
A fitted agent holds only numpy arrays, the encoders and torch state dicts,
so ``save``/``load`` store it as JSON and safetensors; given its ``seed`` and
the episode seed it is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import gpytorch
import numpy as np
import torch
from botorch.models.gpytorch import GPyTorchModel
from gpytorch.mlls import ExactMarginalLogLikelihood

from agents.features import TransferEncoder, fidelity_distance
from agents.gp import (
    DTYPE,
    argmax_random_ties,
    copula,
    log_expected_improvement,
    posterior_mean_std,
)
from agents.gp_bo import GPBO
from agents.persistence import SavedAgent
from agents.training import training_runs
from gymnasium_llmconfig.config_space import Config, Parameter
from gymnasium_llmconfig.registry import ROLES
from gymnasium_llmconfig.training_data import TrainingEnv, TrainingSet


class DeepKernelGP(gpytorch.models.ExactGP, GPyTorchModel):
    """Exact GP whose Matérn kernel acts on an MLP embedding of the config features."""

    _num_outputs = 1

    def __init__(self, dim: int, hidden: int):
        super().__init__(None, None, gpytorch.likelihoods.GaussianLikelihood())
        self.extractor = torch.nn.Sequential(
            torch.nn.Linear(dim, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden),
        )
        self.mean_module = gpytorch.means.ConstantMean()
        self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.MaternKernel(nu=2.5))
        self.to(DTYPE)

    def forward(self, x: torch.Tensor) -> gpytorch.distributions.MultivariateNormal:
        z = self.extractor(x)
        return gpytorch.distributions.MultivariateNormal(self.mean_module(z), self.covar_module(z))


@dataclass
class EnvData:
    """One training env as the warm start needs it: where it sits on the ladder and (features, targets)."""

    role: str
    metadata: Mapping[str, Any]
    x: np.ndarray
    y: np.ndarray


@dataclass
class TaskModel:
    """Everything fitted for one task: frozen encoder, meta-trained weights, warm-start data."""

    encoder: TransferEncoder
    state: dict[str, torch.Tensor]
    envs: list[EnvData]


class FSBO(GPBO, SavedAgent):
    """FSBO; beyond the GP-BO arguments (``n_incumbents``) it takes the meta-learning hyperparameters.

    Args:
        meta_steps: Adam steps of meta-training, per task.
        batch_size: configs of one training env per meta step.
        finetune_steps: Adam steps on the episode's observations before each proposal.
        arch_samples: architectures sampled (and answered by the surrogate) per training env of Arch.
        seed: seeds meta-training (numpy and torch).
        hidden: width of the feature extractor's layers (and of its output).
        meta_lr, finetune_lr: Adam learning rates of meta-training and of fine-tuning.
        warm_start_points: most configs of one training env kept to condition the warm start on.
    """

    name = "fsbo"
    state_types = (TaskModel, EnvData, TransferEncoder, Parameter)

    def __init__(self, meta_steps: int = 1_000, batch_size: int = 64, finetune_steps: int = 20,
                 arch_samples: int = 1_024, seed: int = 0, hidden: int = 32, meta_lr: float = 1e-3,
                 finetune_lr: float = 1e-3, warm_start_points: int = 512, n_incumbents: int = 3):
        super().__init__(n_initial=1, n_incumbents=n_incumbents)
        if meta_steps < 0 or batch_size < 2 or finetune_steps < 0 or arch_samples < 2 or hidden < 1 \
                or warm_start_points < 1:
            raise ValueError("FSBO needs meta_steps >= 0, batch_size >= 2, finetune_steps >= 0, arch_samples >= 2, "
                             "hidden >= 1 and warm_start_points >= 1")
        self.meta_steps = meta_steps
        self.batch_size = batch_size
        self.finetune_steps = finetune_steps
        self.arch_samples = arch_samples
        self.seed = seed
        self.hidden = hidden
        self.meta_lr = meta_lr
        self.finetune_lr = finetune_lr
        self.warm_start_points = warm_start_points
        self.tasks: dict[str, TaskModel] = {}
        self._task: TaskModel | None = None

    # --- meta-training ------------------------------------------------------------------------
    def fit(self, training_set: TrainingSet) -> None:
        """Meta-train one deep-kernel GP per task on the training envs' outcomes."""
        envs = training_set.by_task()
        rng = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)
        with one_thread():
            self.tasks = {task: self._fit_task(envs[task], rng) for task in sorted(envs)}

    def _fit_task(self, training_envs: Sequence[TrainingEnv], rng: np.random.Generator) -> TaskModel:
        encoder = TransferEncoder([e.space for e in training_envs])
        envs = []
        for training_env in training_envs:
            configs, utility = training_runs(training_env, rng, arch_samples=self.arch_samples)
            envs.append(EnvData(training_env.role, dict(training_env.metadata),
                                encoder(training_env.space, configs), copula(utility)))
        model = DeepKernelGP(encoder.dim, self.hidden)
        meta_train(model, [(torch.as_tensor(e.x, dtype=DTYPE), torch.as_tensor(e.y, dtype=DTYPE)) for e in envs],
                   self.meta_steps, self.batch_size, self.meta_lr, rng)
        for env in envs:
            if len(env.y) > self.warm_start_points:
                keep = np.sort(rng.choice(len(env.y), self.warm_start_points, replace=False))
                env.x, env.y = env.x[keep], env.y[keep]
        return TaskModel(encoder, {k: v.detach().clone() for k, v in model.state_dict().items()}, envs)

    def fitted_state(self) -> dict[str, TaskModel]:
        return self.tasks

    def restore_state(self, state: dict[str, TaskModel]) -> None:
        self.tasks = state

    # --- playing --------------------------------------------------------------------------------
    def start_episode(self) -> None:
        self._task = self.tasks.get(self.card.task.name)

    def propose(self) -> Config:
        if self._task is None:
            return super().propose()
        with one_thread():
            return self._propose(self._task)

    def _propose(self, task: TaskModel) -> Config:
        candidates = self.candidates(self.n_incumbents)
        if not len(candidates):
            return self.random_untried()
        x = task.encoder(self.space, candidates.configs)
        if not self.history:
            env = self._nearest_env(task)
            model = conditioned(task.state, env.x, env.y, self.hidden, finetune_steps=0, lr=self.finetune_lr)
            scores = posterior_mean_std(model, x)[0]
        else:
            x_seen = task.encoder(self.space, [c for c, _ in self.history])
            y_seen = copula(np.array([self.utility(m) for _, m in self.history]))
            model = conditioned(task.state, x_seen, y_seen, self.hidden, self.finetune_steps, self.finetune_lr)
            scores = log_expected_improvement(model, x, float(y_seen.max()))
        return candidates.configs[argmax_random_ties(scores, self.rng)]

    def _nearest_env(self, task: TaskModel) -> EnvData:
        """The training env closest to the card's fidelity: nearest role first, then log10 metadata distance."""
        fidelity = self.card.fidelity
        role = ROLES.index(fidelity.role) if fidelity.role in ROLES else len(ROLES)

        def distance(env: EnvData) -> tuple[float, float]:
            return abs(role - ROLES.index(env.role)), fidelity_distance(fidelity.metadata, env.metadata)

        return min(task.envs, key=distance)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread (tiny GPs only lose to threading overhead), then restore the setting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def meta_train(model: DeepKernelGP, data: Sequence[tuple[torch.Tensor, torch.Tensor]], steps: int,
               batch_size: int, lr: float, rng: np.random.Generator) -> None:
    """Adam on the marginal likelihood of one random batch of one random env per step."""
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        x, y = data[int(rng.integers(len(data)))]
        rows = torch.as_tensor(rng.choice(len(y), min(batch_size, len(y)), replace=False))
        step(model, mll, optimizer, x[rows], y[rows])
    model.eval()


def conditioned(state: Mapping[str, torch.Tensor], x: np.ndarray, y: np.ndarray, hidden: int, finetune_steps: int,
                lr: float) -> DeepKernelGP:
    """The meta-trained GP fine-tuned on, then conditioned on, (``x``, ``y``)."""
    train_x, train_y = torch.as_tensor(x, dtype=DTYPE), torch.as_tensor(y, dtype=DTYPE)
    model = DeepKernelGP(train_x.shape[-1], hidden)
    model.load_state_dict(state, keep_transforms=False)  # copies: the meta-trained weights stay intact
    model.set_train_data(train_x, train_y, strict=False)
    if finetune_steps and len(train_y) > 1:
        mll = ExactMarginalLogLikelihood(model.likelihood, model)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        for _ in range(finetune_steps):
            step(model, mll, optimizer, train_x, train_y)
    model.eval()
    return model


def step(model: DeepKernelGP, mll: ExactMarginalLogLikelihood, optimizer: torch.optim.Optimizer,
         x: torch.Tensor, y: torch.Tensor) -> None:
    """One Adam step on the negative marginal log-likelihood of (``x``, ``y``)."""
    model.set_train_data(x, y, strict=False)
    optimizer.zero_grad()
    loss = -mll(model(x), y)
    loss.backward()
    optimizer.step()
