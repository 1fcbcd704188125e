"""Write and submit OpenRLHF jobs to a Ray cluster: multi-turn GRPO and multi-turn SFT (distillation).

Each command writes ``OUT/openrlhf/`` (the job's Ray ``working_dir``: its data files and
``launch.sh``) and, unless ``dry_run``, runs ``launch.sh``, so what was written is exactly what ran.
``launch.sh`` is one ``ray job submit`` whose runtime_env ships the project (``py_modules``: the
``gymnasium_llmconfig``, ``agents`` and ``wrappers`` packages; ``pip``: the project's base
requirements) and forwards every ``LLMCONFIG_*`` variable, then the OpenRLHF command with every
flag spelled out. Every flag, defaults and ``--set`` overrides alike, is checked against the
installed OpenRLHF's own parser (:mod:`.flags`) and the cluster address is checked before anything
is written.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gymnasium_llmconfig.errors import BackendConnectionError, BackendUnavailable, InvalidArgument
from gymnasium_llmconfig.lab.executor import cluster_runtime_env
from gymnasium_llmconfig.lab.train.openrlhf import OPENRLHF_VERSION
from gymnasium_llmconfig.lab.train.openrlhf.flags import (
    GRPO_ENTRY,
    SFT_ENTRY,
    Flag,
    accepted_flags,
    check_flags,
    openrlhf_version,
)
from gymnasium_llmconfig.lab.train.openrlhf.prompts import (
    longest_prompt_tokens,
    prompt_rows,
    training_labels,
    write_prompts,
)
from gymnasium_llmconfig.storage import atomic_write, read_jsonl

#: A flag's value in a command: ``True`` for a switch that is on, else its value(s) as text.
Value = bool | str | list[str]


@dataclass(frozen=True)
class GRPOSettings:
    """The GRPO hyperparameters the local trainer shares, as OpenRLHF flags; defaults are the paper's (000, §5:
    batch 64, 5 rollouts, lr 1e-6; the KL coefficient is not stated, 1e-3 is the KL-loss default of verl, the
    trainer it used)."""

    batch_size: int = 64
    group_size: int = 5
    lr: float = 1e-6
    kl_coef: float = 1e-3
    temperature: float = 1.0

    def flags(self) -> dict[str, Value]:
        if self.batch_size < 1 or self.group_size < 2:
            raise InvalidArgument(f"GRPO needs a batch of at least 1 sample and a group of at least 2 rollouts "
                                  f"(group-normalized advantages), got {self.batch_size} and {self.group_size}")
        return {
            "--rollout.batch_size": str(self.batch_size),
            "--rollout.n_samples_per_prompt": str(self.group_size),
            "--train.batch_size": str(self.batch_size * self.group_size),  # one policy update per rollout batch
            "--actor.adam.lr": f"{self.lr:g}",
            "--algo.kl.init_coef": f"{self.kl_coef:g}",
            "--rollout.temperature": f"{self.temperature:g}",
        }


#: The rest of the paper's multi-turn GRPO: group-normalized advantages, KL as a loss with the k3 estimator, and
#: its prompt of up to 8,500 plus response of up to 13,000 tokens (OpenRLHF has one total length for an episode).
GRPO_DEFAULTS: dict[str, Value] = {
    "--algo.advantage.estimator": "group_norm",
    "--algo.kl.use_loss": True,
    "--algo.kl.estimator": "k3",
    "--data.max_len": "21500",
    "--data.input_key": "prompt",
    "--data.label_key": "label",
    "--ds.zero_stage": "3",
    "--ds.param_dtype": "bf16",
    "--actor.gradient_checkpointing_enable": True,
    "--ds.packing_samples": True,
    "--train.colocate_all": True,
    "--vllm.enable_sleep": True,
    "--ds.enable_sleep": True,
    "--vllm.gpu_memory_utilization": "0.5",
    "--vllm.tensor_parallel_size": "1",
    "--ckpt.save_hf": True,
}
#: The paper's distillation settings (paper 000, §5: lr 5e-6, cosine schedule, per-device batch 2, ZeRO-3
#: with offload, gradient checkpointing); multi-turn data with the loss on assistant turns only.
SFT_DEFAULTS: dict[str, Value] = {
    "--data.input_key": "messages",
    "--data.multiturn": True,
    "--data.apply_chat_template": True,
    "--data.max_len": "21500",
    "--adam.lr": "5e-6",
    "--lr_scheduler": "cosine_with_min_lr",
    "--train.micro_batch_size": "2",
    "--ds.zero_stage": "3",
    "--ds.adam_offload": True,
    "--ds.param_dtype": "bf16",
    "--model.gradient_checkpointing_enable": True,
    "--ckpt.save_hf": True,
}
_ADDRESS = re.compile(r"^(?:(?P<scheme>https?|ray)://)?(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})/?$")
_TRUE, _FALSE = {"true", "1", "yes", "on", ""}, {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Launch:
    """What a launch wrote, and whether it was submitted."""

    directory: Path
    files: tuple[Path, ...]
    samples: int
    submitted: bool
    notes: tuple[str, ...] = ()


# -- the cluster address ------------------------------------------------------------------------

def check_address(address: str, *, reach: bool) -> None:
    """Refuse a malformed address; with ``reach``, also one no Ray cluster answers at (before any file is written).

    Accepted: ``auto`` (the cluster this machine belongs to, or ``$RAY_ADDRESS``), ``HOST:PORT`` (the head's
    GCS, as ``ray start`` prints it), ``ray://HOST:PORT`` (Ray Client) and ``http(s)://HOST:PORT`` (the
    dashboard): what ``ray job submit --address`` takes.
    """
    match = None if address == "auto" else _ADDRESS.match(address.strip())
    if address != "auto" and (match is None or not 0 < int(match["port"]) < 65536):
        raise InvalidArgument(
            f"--address {address!r} is not a Ray cluster address. Fix: pass `auto` (this machine's cluster or "
            "$RAY_ADDRESS), HOST:PORT of the head node (e.g. 10.0.0.1:6379), ray://HOST:10001 or "
            "http://HOST:8265 (the dashboard)")
    if not reach:
        return
    if match is not None:
        host, port = match["host"].strip("[]"), int(match["port"])
        try:
            socket.create_connection((host, port), timeout=5).close()
        except OSError as exc:
            raise BackendConnectionError(
                f"no Ray cluster answers at --address {address} ({exc.strerror or exc}). Fix: start the cluster "
                "(`ray start --head` on the head node) or pass its address; `--dry-run` writes the files "
                "without submitting") from None
    try:
        from ray.dashboard.utils import get_address_for_submission_client
        from ray.job_submission import JobSubmissionClient
    except ImportError:
        raise BackendUnavailable("submitting a job needs Ray's job client. Fix: pip install 'ray[default]' (or "
                                 "write the files with --dry-run and run launch.sh where Ray is installed)") from None

    try:
        JobSubmissionClient(get_address_for_submission_client(address))
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError or its RpcError here
        raise BackendConnectionError(
            f"could not reach a Ray cluster's job server at --address {address}: {exc} Fix: start the cluster "
            "(`ray start --head`, its dashboard serves job submission) or pass its address; `--dry-run` writes "
            "the files without submitting") from None


# -- flags --------------------------------------------------------------------------------------

def parse_overrides(items: Sequence[str], accepted: dict[str, Flag], module: str) -> dict[str, Value | None]:
    """``--set key=value`` items as flag values; ``None`` removes a flag, ``false`` turns a switch off.

    ``key`` is an OpenRLHF flag with or without its leading dashes (``actor.adam.lr=2e-6``); a flag
    that takes several values takes them space-separated (``actor.adam.betas="0.9 0.99"``).
    """
    out: dict[str, Value | None] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        name = "--" + key.strip().lstrip("-")
        if not sep or name == "--":
            raise InvalidArgument(f"--set {item!r} is not key=value; e.g. --set actor.adam.lr=2e-6")
        check_flags([name], accepted, module)
        flag = accepted[name]
        if flag.switch:
            if raw.strip().lower() not in _TRUE | _FALSE:
                raise InvalidArgument(f"--set {item!r}: {name} is a switch; give true or false")
            out[name] = raw.strip().lower() in _TRUE or None
        elif not raw.strip():
            raise InvalidArgument(f"--set {item!r}: {name} needs a value")
        elif not flag.several:
            out[name] = raw
        else:
            try:
                out[name] = shlex.split(raw)
            except ValueError as exc:
                raise InvalidArgument(f"--set {item!r}: {exc}; give {name}'s values separated by spaces") from None
    return out


def command_flags(defaults: dict[str, Value], overrides: dict[str, Value | None], accepted: dict[str, Flag],
                  module: str) -> dict[str, Value]:
    """The defaults with the overrides applied, every name checked against the installed entry point."""
    flags: dict[str, Value] = dict(defaults)
    for name, value in overrides.items():
        if value is None:
            flags.pop(name, None)
        else:
            flags[name] = value
    check_flags(list(flags), accepted, module)
    return flags


def flag_tokens(flags: dict[str, Value]) -> list[str]:
    tokens: list[str] = []
    for name, value in flags.items():
        tokens.append(name)
        if value is not True:
            tokens.extend(value if isinstance(value, list) else [str(value)])
    return tokens


# -- the job ------------------------------------------------------------------------------------

def runtime_env(directory: Path, ship_project: bool) -> dict[str, Any]:
    """The job's runtime_env: ``directory`` as working_dir, plus the project (:func:`cluster_runtime_env`)."""
    env = cluster_runtime_env(pip=True) if ship_project else {}
    return {"working_dir": str(directory), **env, "excludes": ["__pycache__", "*.pyc"]}


def launch_script(title: str, address: str, env: dict[str, Any], submit_options: list[str], command: list[str],
                  flags: dict[str, Value], module: str) -> str:
    """``launch.sh``: one ``ray job submit``, one flag per line."""
    head = ["ray", "job", "submit", "--address", address, "--runtime-env-json", json.dumps(env), *submit_options,
            "--", *command]
    lines = [" ".join(shlex.quote(t) for t in head)]
    tokens = flag_tokens(flags)
    i = 0
    while i < len(tokens):
        j = i + 1
        while j < len(tokens) and not tokens[j].startswith("--"):
            j += 1
        lines.append("  " + " ".join(shlex.quote(t) for t in tokens[i:j]))
        i = j
    return (
        "#!/usr/bin/env bash\n"
        f"# {title}\n"
        f"# Written by `llmconfig train`; every flag was checked against {module} of OpenRLHF "
        f"{openrlhf_version()} (tested: {OPENRLHF_VERSION}).\n"
        "# Running it again submits the same job again; `ray job stop ID` stops one.\n"
        "set -euo pipefail\n"
        + " \\\n".join(lines) + "\n"
    )


def _write_script(path: Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def submit(script: Path) -> None:
    """Run ``launch.sh`` (``ray job submit`` follows the job's logs until it ends; Ctrl-C stops following only)."""
    if shutil.which("ray") is None:
        raise InvalidArgument("the `ray` command is not on PATH; it submits the job. Fix: pip install 'ray[default]' "
                              "in this environment, or run launch.sh where Ray is installed")
    code = subprocess.run(["bash", str(script)], check=False).returncode
    if code != 0:
        raise BackendConnectionError(f"`ray job submit` exited with code {code} (its output is above); the files "
                                     f"are in {script.parent}; run {script} again once fixed")


def _prepare(address: str, dry_run: bool, module: str, defaults: dict[str, Value],
             overrides: Sequence[str]) -> dict[str, Value]:
    accepted = accepted_flags(module)  # a missing OpenRLHF is named here, before anything else
    flags = command_flags(defaults, parse_overrides(overrides, accepted, module), accepted, module)
    check_address(address, reach=not dry_run)
    return flags


def launch_grpo(suite: str, model: str, out: Path, address: str = "auto", dry_run: bool = False,
                overrides: Sequence[str] = (), budgets: Sequence[int] = (1, 2, 3, 4, 5), seeds: Sequence[int] = (0,),
                top_k: int = 5, nodes: int = 1, gpus_per_node: int = 4, settings: GRPOSettings = GRPOSettings(),
                ship_project: bool = True) -> Launch:
    """Multi-turn GRPO of ``model`` on ``suite``'s training samples (x ``budgets`` x ``seeds``) with OpenRLHF."""
    if nodes < 1 or gpus_per_node < 1:
        raise InvalidArgument(f"--nodes and --gpus-per-node must be at least 1, got {nodes} and {gpus_per_node}")
    out = Path(out).resolve()
    directory = out / "openrlhf"
    shape: dict[str, Value] = {
        f"--{role}.{key}": str(value) for role in ("actor", "ref")
        for key, value in (("num_nodes", nodes), ("num_gpus_per_node", gpus_per_node))}
    defaults: dict[str, Value] = {
        "--actor.model_name_or_path": model, "--train.agent_func_path": "agent_func.py",
        "--data.prompt_dataset": "prompts.jsonl", **settings.flags(), **GRPO_DEFAULTS, **shape,
        "--vllm.num_engines": str(nodes * gpus_per_node),
        "--ckpt.output_dir": str(out / "model"), "--ckpt.path": str(out / "checkpoints"),
    }
    flags = _prepare(address, dry_run, GRPO_ENTRY, defaults, overrides)
    labels = training_labels(suite, budgets, seeds, top_k)
    directory.mkdir(parents=True, exist_ok=True)
    agent_func = directory / "agent_func.py"
    shutil.copyfile(Path(__file__).with_name("agent_func.py"), agent_func)
    rows = prompt_rows(labels)
    write_prompts(directory / "prompts.jsonl", rows)
    samples = len(rows)
    script = directory / "launch.sh"
    title = (f"Multi-turn GRPO of {model} on the {suite!r} suite's training samples ({samples} prompts) "
             f"with OpenRLHF on the Ray cluster at {address}.")
    _write_script(script, launch_script(title, address, runtime_env(directory, ship_project), [],
                                        ["python3", "-m", GRPO_ENTRY], flags, GRPO_ENTRY))
    if not dry_run:
        submit(script)
    notes = _batch_notes(flags, samples) + _length_notes(flags, model, [row["prompt"] for row in rows])
    return Launch(directory, (agent_func, directory / "prompts.jsonl", script), samples, not dry_run, notes)


def _length_notes(flags: dict[str, Value], model: str, prompts: list[str]) -> tuple[str, ...]:
    """OpenRLHF cuts a first prompt longer than ``--data.max_len`` from the left: the system prompt and task first."""
    longest = longest_prompt_tokens(model, prompts)
    chars = max(len(p) for p in prompts)
    if longest is None:
        return (f"the longest prompt has {chars} characters; {model}'s tokenizer is not on this machine, so its "
                "length in tokens against --data.max_len was not checked",)
    limit = int(str(flags.get("--data.max_len", "2048")))
    if longest < limit:
        return (f"the longest first prompt is {longest} tokens of --data.max_len {limit}",)
    return (f"the longest first prompt is {longest} tokens, over --data.max_len {limit}: OpenRLHF would cut it "
            "from the left (system prompt and task first). Fix: --set data.max_len=... or a smaller --top-k",)


def _batch_notes(flags: dict[str, Value], samples: int) -> tuple[str, ...]:
    """OpenRLHF drops an incomplete prompt batch: fewer prompts than ``--rollout.batch_size`` train nothing."""
    try:
        batch, n = int(str(flags["--rollout.batch_size"])), int(str(flags["--rollout.n_samples_per_prompt"]))
    except (KeyError, ValueError):
        return ()
    if samples >= batch:
        return ()
    return (f"{samples} prompts are fewer than --rollout.batch_size {batch}, and OpenRLHF drops an incomplete "
            f"batch, so this job would take no step: add budgets or seeds, or pass --set rollout.batch_size={samples} "
            f"--set train.batch_size={samples * n}",)


def sft_rows(path: Path) -> list[dict[str, Any]]:
    """The chats of a trajectory file (JSON lines with a ``messages`` list, as episode records keep them)."""
    if not Path(path).is_file():
        raise InvalidArgument(f"--data {path} is not a file; pass a JSON-lines file of trajectories, one "
                              "{\"messages\": [{\"role\": ..., \"content\": ...}, ...]} per line")
    rows = []
    for number, row in enumerate(read_jsonl(path), 1):
        messages = row.get("messages") if isinstance(row, dict) else None
        if not (isinstance(messages, list) and messages and all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in messages)):
            raise InvalidArgument(f"{path} line {number} has no `messages` list of {{role, content}} objects")
        if not any(m["role"] == "assistant" for m in messages):
            raise InvalidArgument(f"{path} line {number} has no assistant turn to learn from")
        rows.append({"messages": [{"role": m["role"], "content": m["content"]} for m in messages]})
    if not rows:
        raise InvalidArgument(f"{path} holds no trajectories")
    return rows


def launch_sft(data: Path, model: str, out: Path, address: str = "auto", dry_run: bool = False,
               overrides: Sequence[str] = (), gpus: int = 4) -> Launch:
    """Multi-turn SFT of ``model`` on the trajectories in ``data`` (loss on assistant turns), OpenRLHF on one node."""
    if gpus < 1:
        raise InvalidArgument(f"--gpus-per-node must be at least 1, got {gpus}")
    out = Path(out).resolve()
    directory = out / "openrlhf"
    defaults: dict[str, Value] = {
        "--model.model_name_or_path": model, "--data.dataset": "sft.jsonl", **SFT_DEFAULTS,
        "--train.batch_size": str(2 * gpus), "--ckpt.output_dir": str(out / "model"),
        "--ckpt.path": str(out / "checkpoints"),
    }
    flags = _prepare(address, dry_run, SFT_ENTRY, defaults, overrides)
    rows = sft_rows(data)
    directory.mkdir(parents=True, exist_ok=True)
    dataset = directory / "sft.jsonl"
    atomic_write(dataset, lambda handle: handle.writelines(json.dumps(row) + "\n" for row in rows))
    script = directory / "launch.sh"
    title = (f"Multi-turn SFT (policy distillation) of {model} on {len(rows)} trajectories with OpenRLHF on "
             f"{gpus} GPUs of the Ray cluster at {address}.")
    # DeepSpeed's launcher runs on the node Ray gives the entrypoint, on the GPUs Ray assigned it
    _write_script(script, launch_script(title, address, runtime_env(directory, ship_project=False),
                                        ["--entrypoint-num-gpus", str(gpus)],
                                        ["deepspeed", "--module", SFT_ENTRY], flags, SFT_ENTRY))
    if not dry_run:
        submit(script)
    return Launch(directory, (dataset, script), len(rows), not dry_run)
