"""The llm-prompt agent with the packaged SmolLM2-135M-Instruct (GGUF) on CPU, one budget-2 episode.

A 135M model follows the format poorly, so only the record's shape is checked:
reasoning is kept per turn and the rates are computed (they may be 0).
"""

from __future__ import annotations

import gymnasium
import pytest

pytest.importorskip("transformers")
pytest.importorskip("gguf")
pytest.importorskip("accelerate")
torch = pytest.importorskip("torch")

from conftest import require_data

import gymnasium_llmconfig  # noqa: F401  (registers the envs)
from agents.base import run_episode
from agents.llm import BackendUnavailable, LLMPromptAgent
from agents.llm.hf import TransformersBackend, default_gguf_path

ENV_ID = "LLMConfig-Pretrain-N215M-D4B-v0"


@pytest.fixture(scope="module")
def backend() -> TransformersBackend:
    try:
        default_gguf_path()
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    threads = torch.get_num_threads()
    backend = TransformersBackend(device="cpu", num_threads=1)
    yield backend
    torch.set_num_threads(threads)


def test_smollm2_plays_a_budget_2_episode(backend: TransformersBackend) -> None:
    require_data("steplaw/dense_lr_bs_loss.csv")
    env = gymnasium.make(ENV_ID, budget=2, on_invalid="penalize")
    agent = LLMPromptAgent(backend, max_new_tokens=64, temperature=0.7, seed=0)
    run_episode(env, agent, seed=0)
    record = agent.record
    assert all(env.action_space.contains(turn.action) for turn in record.turns)
    assert record is not None and len(record.turns) == 2 and record.backend == "transformers"
    assert record.model is not None and record.model.endswith(".gguf")
    for turn in record.turns:
        assert turn.reply.strip()  # the model said something
        assert isinstance(turn.reasoning, str) and turn.feedback
        assert turn.completion_tokens and 0 < turn.completion_tokens <= 64
    assert 0.0 <= record.execution_rate <= 1.0 and 0.0 <= record.unique_config_rate <= record.execution_rate
    assert -1.0 <= record.total_reward <= 0.0
    print(
        f"\nSmolLM2 episode: execution_rate={record.execution_rate} unique_config_rate={record.unique_config_rate} "
        f"return={record.total_reward:.3f} load={backend.load_seconds:.1f}s "
        f"gen={sum(t.seconds for t in record.turns):.1f}s"
    )
    env.close()


def test_missing_model_path_names_the_fix() -> None:
    with pytest.raises(BackendUnavailable, match="does not exist"):
        TransformersBackend("/nonexistent/model-dir")
