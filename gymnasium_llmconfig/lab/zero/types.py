"""The shapes LLMZero's parts exchange (paper 003 §3): a phase, what running it produced, a proposal.

A *phase* is one node of the search tree: resume from a parent's checkpoint at ``resume_step`` (or
start from the base policy) and train ``steps`` more GRPO steps with a full :class:`PhaseConfig`
(§2.1, Definition 3: ``(theta_l, k_l, j_l)``). The runner turns a :class:`PhaseSpec` into a
:class:`PhaseResult`; the proposer turns what the tree knows into a :class:`Proposal`; the early
stopper reads a running phase's :class:`PhaseProgress` and answers a :class:`StopDecision`.
Everything here is plain data that round-trips through JSON (``tree.json``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Protocol

#: A finished phase's status in ``tree.json`` (issue contract).
PhaseStatus = Literal["completed", "early-stopped", "failed"]
#: How a node came to be (§3.2-3.3): the root's default config, a transition from a parent's
#: checkpoint, a fix of a failed parent, or a forced fresh start.
NodeKind = Literal["root", "evolve", "debug", "scratch"]


@dataclass(frozen=True)
class PhaseConfig:
    """A full GRPO configuration of one phase (§3.4, Appendix F.2), at the scale of the tiny trainer.

    Capacity (§4.3.2: grows or shrinks what a step can learn from): ``max_response_length``
    (tokens a completion may have), ``rollouts`` (completions per prompt). Regularization:
    ``lr``, ``kl_coef``, ``temperature``, ``clip_low``/``clip_high`` (PPO ratio bounds).
    Others: ``batch_size`` (prompts per step), ``grad_clip``, ``norm_adv`` (divide advantages by
    the group's std, eq. 1; off = mean-centred only).
    """

    lr: float
    kl_coef: float
    temperature: float
    clip_low: float
    clip_high: float
    max_response_length: int
    rollouts: int
    batch_size: int
    grad_clip: float
    norm_adv: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PhaseConfig:
        return cls(**{f.name: raw[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class PhaseSpec:
    """What to run: from ``parent``'s checkpoint at ``resume_step`` (``parent=None``: from the base
    policy, ``resume_step=0``), with ``config``, for ``steps`` more steps."""

    parent: str | None
    resume_step: int
    config: PhaseConfig
    steps: int


@dataclass
class PhaseProgress:
    """A phase while it runs, as the early stopper sees it (§3.5). Steps are global (resume step + k)."""

    spec: PhaseSpec
    trace: list[dict[str, Any]]
    validations: list[tuple[int, float]]

    @property
    def best_validation(self) -> float | None:
        return max((v for _, v in self.validations), default=None)


@dataclass
class PhaseResult:
    """What running a phase produced.

    ``score`` is the best validation score seen in the phase (the value backpropagated, Algorithm 1
    line 18); ``test_score`` is the test score at that best-validation step, reported, never used to
    decide anything. ``checkpoints`` are the global steps this phase saved weights at (the resume
    choices its children get). ``tokens`` counts generated tokens and ``cpu_seconds`` the process CPU
    time of the phase: the two compute axes of the analysis (§4.2, Fig. 2).
    """

    status: PhaseStatus
    score: float | None
    best_step: int | None
    test_score: float | None
    validations: list[tuple[int, float]]
    trace: list[dict[str, Any]]
    checkpoints: list[int]
    tokens: int
    cpu_seconds: float
    wall_seconds: float
    failure: str = ""
    stop_reason: str = ""


@dataclass
class Proposal:
    """A proposer's answer (§3.4, Appendix G.1): the diagnosis, the new config, the checkpoint, the steps.

    ``resume_step=None`` means from scratch. ``changes`` maps each changed parameter to
    ``[old, new]``; ``clamped`` lists parameters pulled back into their allowed range; ``source`` says
    who decided (``"llm"``, ``"heuristic"``, or ``"fallback"`` when the LLM's replies did not parse).
    """

    config: PhaseConfig
    resume_step: int | None
    steps: int
    diagnosis: str
    changes: dict[str, list[Any]] = field(default_factory=dict)
    clamped: list[str] = field(default_factory=list)
    source: str = "heuristic"
    parse_failures: int = 0


@dataclass
class ProposalContext:
    """What the proposer is shown (§3.4): the parent's config and run, the search's best so far.

    ``mode`` is ``"evolve"`` (resume from one of ``checkpoints``), ``"debug"`` (the parent failed:
    fix its config; ``parent_result.failure`` says why) or ``"scratch"`` (forced fresh start, §3.3:
    checkpoints withheld, ``checkpoints == []``). ``early_stopped`` carries the stopper's reason when
    the parent was stopped early (the prompt's early-stop notice).
    """

    mode: Literal["evolve", "debug", "scratch"]
    parent_config: PhaseConfig
    parent_result: PhaseResult | None
    checkpoints: list[int]
    best_score: float | None
    default_steps: int
    early_stopped: str = ""
    seed: int = 0


class Proposer(Protocol):
    """Proposes the next phase (§3.4). Deterministic given ``ctx.seed`` for the heuristic one."""

    name: str

    def propose(self, ctx: ProposalContext) -> Proposal: ...


@dataclass(frozen=True)
class StopDecision:
    stop: bool
    reason: str


class EarlyStopper(Protocol):
    """Decides, at each validation of a running phase, whether to stop it (§3.5).

    ``best`` is the best completed-or-stopped phase so far (by score) and its progress, or ``None``.
    """

    name: str

    def decide(self, running: PhaseProgress, best: PhaseResult | None) -> StopDecision: ...


class PhaseRunner(Protocol):
    """Runs one phase (the live schedule environment's step): never raises for a training failure,
    which comes back as ``status="failed"`` with ``failure`` set."""

    def run(self, node_id: str, spec: PhaseSpec, stopper: EarlyStopper | None,
            best: PhaseResult | None) -> PhaseResult: ...

    def release(self, node_id: str, keep_steps: set[int]) -> None:
        """Delete ``node_id``'s checkpoints except ``keep_steps`` (none live node can resume from the rest)."""
        ...


@dataclass
class NodeRecord:
    """One node of ``tree.json`` (issue contract: ``id``, ``parent``, ``resume_step``, ``config``, ``status``,
    ``score``, plus what the analysis and the report read).

    ``parent`` is ``None`` for a from-scratch phase. ``trace`` is the node's per-step metric file,
    relative to the search directory (``nodes/<id>/trace.jsonl``). ``iteration`` is the search
    iteration that created it (0 for the root); ``proposer`` is the proposal's ``source``.

    The search tree's own structure (§3.2, App. D) is kept apart from ``parent`` (whose checkpoint
    the phase resumed from): ``anchor`` is the node selection reaches it through (a scratch phase
    hangs under the best node it was injected at, a re-parented fix under its chain's oldest failed
    node's anchor; ``None`` only for the root), ``origin`` the node whose expansion created it
    (branching limits count these, and re-parenting never changes it). ``pruned`` marks a debug
    chain cut off after a fix (kept for the record, out of selection and statistics);
    ``terminal`` is the last computed terminality (App. D, §3.2); ``resume_requested`` is the
    proposer's checkpoint step when it was not one of the parent's and got snapped to the nearest.
    """

    id: str
    parent: str | None
    kind: NodeKind
    iteration: int
    resume_step: int
    config: dict[str, Any]
    steps: int
    status: PhaseStatus
    score: float | None
    best_step: int | None
    test_score: float | None
    validations: list[list[float]]
    checkpoints: list[int]
    tokens: int
    cpu_seconds: float
    wall_seconds: float
    trace: str
    failure: str = ""
    stop_reason: str = ""
    diagnosis: str = ""
    changes: dict[str, list[Any]] = field(default_factory=dict)
    clamped: list[str] = field(default_factory=list)
    proposer: str = ""
    anchor: str | None = None
    origin: str | None = None
    pruned: bool = False
    terminal: bool = False
    resume_requested: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> NodeRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})
