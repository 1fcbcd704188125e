"""A tour of the paper's lookup API, ``LMConfigGym`` (AutoLLMResearch, appendix A.1).

Usage: ``python examples/paper_api.py [--quick] [--tasks Micro,Pretrain,...]``.

Task -> fidelity -> experiment: list the tasks, pick one, list its fidelities, fix
one by its metadata (e.g. ``N=..., D=...``), read the configuration space and
query configs by value or by index. A query spends no budget, so this is the API
for analysis and for building datasets; agents are evaluated on the envs. The
script then queries every run of each fidelity (a sample of 200 architectures
for Arch, whose space is infinite) and prints the best and worst. ``--quick``
tours only the first Micro fidelity, whose data ships in the package.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import gymnasium_llmconfig
from gymnasium_llmconfig import LMConfigGym
from gymnasium_llmconfig.data import DataError

IDENTITY_KEYS = ("env_id", "name", "role")


def runs_of(env_id: str, reveal_names: bool, rng: np.random.Generator) -> list[dict]:
    """The configs to query: every run of a finite space, 200 sampled architectures otherwise.

    The env's card lists them, with parameter names revealed or withheld as the facade's are.
    """
    space = gymnasium_llmconfig.make(env_id, reveal_names=reveal_names).unwrapped.card.space
    return space.enumerate() if space.is_finite else [space.sample(rng) for _ in range(200)]


def tour(gym: LMConfigGym, task: str, quick: bool) -> None:
    gym.set_task(task)
    fidelities = gym.show_envs()
    print(f"\n== {task}: {len(fidelities)} fidelities ==")
    for fidelity in fidelities[:1] if quick else fidelities:
        metadata = {k: v for k, v in fidelity.items() if k not in IDENTITY_KEYS}
        env_id = gym.set_env(**metadata)  # by fidelity metadata, as in the paper; set_env(env_id) works too
        space = gym.show_configuration_space()
        names = [p["name"] for p in space["parameters"]]
        results = [gym.query(config) for config in runs_of(env_id, gym.reveal_names, np.random.default_rng(0))]
        best = min(results, key=lambda r: r["normalized_regret"])
        worst = max(results, key=lambda r: r["normalized_regret"])
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        print(f"{env_id} ({fidelity['role']}, {metadata}): {len(names)} parameters ({shown}), {len(results)} queried;")
        print(f"   best  {best['metric_name']} = {best['metric']:.4f} at {best['config']}")
        print(f"   worst {worst['metric_name']} = {worst['metric']:.4f} "
              f"(normalized regret {worst['normalized_regret']:.3f})")
    if space["finite"]:
        by_index = gym.query(0)  # a finite space also answers by a config's index
        assert gym.query(by_index["config"])["metric"] == by_index["metric"]
        print(f"   query(0) -> {by_index['config']}: {by_index['metric']:.4f}, details {by_index['details']}")
    print("configuration space as the prompt shows it:\n   " + space["text"][:400].replace("\n", "\n   "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the first Micro fidelity (no data needed)")
    parser.add_argument("--tasks", default=None, help="comma-separated tasks (default: every task)")
    args = parser.parse_args()
    gym = LMConfigGym()
    print("tasks:", gym.list_tasks())
    tasks = args.tasks.split(",") if args.tasks else ["Micro"] if args.quick else gym.list_tasks()
    for task in tasks:
        try:
            tour(gym, task, args.quick)
        except DataError as exc:
            sys.exit(f"paper_api.py: {task} needs its data: {exc}")
        except KeyError as exc:
            sys.exit(f"paper_api.py: --tasks: {exc.args[0]}")
    print("\nthe smoke suite's low-to-high split:", gym.init_datasets("smoke"))


if __name__ == "__main__":
    main()
