"""The llm-prompt agent over a real HTTP connection to a canned OpenAI-compatible server.

The server (stdlib ``http.server`` on 127.0.0.1, port 0) answers
``/v1/chat/completions`` from a script: a 503 then success, a malformed tool
call, native ``tool_calls``, and a 401. Loopback only; every wait is bounded.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gymnasium
import pytest

pytest.importorskip("openai")

from conftest import require_data

import gymnasium_llmconfig  # noqa: F401  (registers the envs)
from agents.base import Agent, run_episode
from agents.llm import BackendAuthError, BackendConnectionError, LLMPromptAgent
from agents.llm.openai_chat import OpenAIBackend

ENV_ID = "LLMConfig-Pretrain-N215M-D4B-v0"


def completion(content: str | None = None, tool_args: str | None = None) -> dict:
    message: dict = {"role": "assistant", "content": content}
    if tool_args is not None:
        message["tool_calls"] = [
            {"id": "call_1", "type": "function", "function": {"name": "exec_config", "arguments": tool_args}}
        ]
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "canned",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


class CannedServer:
    """Serves scripted (status, body) replies in order and records every request."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict]] = []
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with owner.lock:
                    owner.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                    exhausted = (500, {"error": {"message": "script exhausted"}})
                    status, payload = owner.script.pop(0) if owner.script else exhausted
                if self.path != "/v1/chat/completions":
                    status, payload = 404, {"error": {"message": f"no route {self.path}"}}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture()
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[CannedServer]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("LLM_TEST_KEY", raising=False)
    srv = CannedServer()
    yield srv
    srv.close()


def make_agent(server: CannedServer, **kwargs) -> LLMPromptAgent:
    return LLMPromptAgent(
        "openai", model="canned", base_url=server.base_url, api_key_env="LLM_TEST_KEY",
        max_retries=3, backoff=0.01, max_backoff=0.05, timeout=10, max_new_tokens=256,
        temperature=0.5, seed=7, **kwargs,
    )


def play(env: gymnasium.Env, agent: LLMPromptAgent, seed: int) -> list[dict]:
    infos = run_episode(env, agent, seed=seed)
    assert all(env.action_space.contains(turn.action) for turn in agent.record.turns)
    return infos


def configs(env: gymnasium.Env, n: int) -> list[dict]:
    return [dict(c) for c in env.unwrapped.card.space.enumerate()[:n]]


def test_episode_over_http_with_retry_and_malformed_call(server: CannedServer) -> None:
    require_data("steplaw/dense_lr_bs_loss.csv")
    env = gymnasium.make(ENV_ID, budget=2, on_invalid="penalize")
    good = configs(env, 1)[0]
    malformed = 'Let me think: a mid-range lr.\n{"name": "exec_config", "arguments": {"lr": 0.002, "bs": }'
    server.script = [
        (503, {"error": {"message": "overloaded"}}),
        (200, completion(malformed)),
        (200, completion("The call failed; I will send a proper one.", tool_args=json.dumps(good))),
    ]
    agent = make_agent(server)
    assert isinstance(agent, Agent)
    infos = play(env, agent, seed=3)

    # a 503 was retried, over the real connection
    assert agent.backend.retries == 1 and agent.backend.retry_log[0][0] == "503"
    assert len(server.requests) == 3
    assert server.requests[0]["body"] == server.requests[1]["body"]
    assert server.requests[0]["auth"] == "Bearer EMPTY"
    first = server.requests[1]["body"]
    assert first["model"] == "canned" and first["max_tokens"] == 256 and first["temperature"] == 0.5
    assert first["seed"] == 3 and server.requests[2]["body"]["seed"] == 4
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert "exec_config" in first["messages"][1]["content"]  # the env's own prompt
    roles = [m["role"] for m in server.requests[2]["body"]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert server.requests[2]["body"]["messages"][2]["content"] == malformed
    assert server.requests[2]["body"]["messages"][3]["content"].startswith("Invalid proposal")

    # the env saw one invalid and one valid proposal
    assert [i["valid"] for i in infos] == [False, True]
    record = agent.record
    assert record is not None and record.env_id == ENV_ID and record.budget == 2 and record.seed == 3
    t0, t1 = record.turns
    assert t0.proposal is None and t0.parse_error and t0.reasoning.startswith("Let me think")
    assert t0.valid is False and t0.reward == pytest.approx(-0.5)
    assert t1.proposal == good and t1.valid is True and t1.config is not None
    assert t1.reasoning == "The call failed; I will send a proper one."
    assert json.loads(t1.action) == {"name": "exec_config", "arguments": good}
    assert record.executed_calls == 1 and record.unique_configs == 1
    assert record.execution_rate == pytest.approx(0.5) and record.unique_config_rate == pytest.approx(0.5)
    assert record.total_reward == pytest.approx(t0.reward + t1.reward)
    assert [m["role"] for m in record.messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    dumped = json.loads(json.dumps(record.to_dict()))
    assert dumped["execution_rate"] == 0.5 and len(dumped["turns"]) == 2
    env.close()


def test_repeat_counts_as_executed_but_not_unique(server: CannedServer) -> None:
    require_data("steplaw/dense_lr_bs_loss.csv")
    env = gymnasium.make(ENV_ID, budget=3, on_invalid="penalize")
    a, b = configs(env, 2)
    server.script = [
        (200, completion(f"Start here.\n```json\n{json.dumps(a)}\n```")),
        (200, completion(f'Again: {{"name": "exec_config", "arguments": {json.dumps(a)}}}')),
        (200, completion(f'Something new: {{"name": "exec_config", "arguments": {json.dumps(b)}}}')),
    ]
    agent = make_agent(server)
    infos = play(env, agent, seed=0)
    assert [(i["valid"], i["repeat"]) for i in infos] == [(True, False), (False, True), (True, False)]
    assert agent.execution_rate == pytest.approx(1.0)
    assert agent.unique_config_rate == pytest.approx(2 / 3)
    assert agent.record.valid_calls == 2
    assert agent.backend.retries == 0
    env.close()


def test_unauthorized_gives_clear_error(server: CannedServer) -> None:
    server.script = [(401, {"error": {"message": "Invalid API key", "type": "invalid_request_error"}})]
    backend = OpenAIBackend("canned", base_url=server.base_url, api_key_env="LLM_TEST_KEY", backoff=0.01)
    with pytest.raises(BackendAuthError, match=r"HTTP 401.*Invalid API key.*\$LLM_TEST_KEY"):
        backend.generate([{"role": "user", "content": "hi"}], max_new_tokens=8, temperature=0.0, seed=0)
    assert len(server.requests) == 1 and backend.retries == 0  # auth errors are not retried


def test_persistent_5xx_and_unreachable_server_fail_after_bounded_retries(server: CannedServer) -> None:
    server.script = [(502, {"error": {"message": "bad gateway"}})] * 3
    backend = OpenAIBackend("canned", base_url=server.base_url, max_retries=2, backoff=0.01, max_backoff=0.02)
    with pytest.raises(BackendConnectionError, match=r"HTTP 502 after 3 attempt"):
        backend.generate([{"role": "user", "content": "hi"}], 8, 0.0, None)
    assert backend.retries == 2 and len(server.requests) == 3

    with socket.socket() as sock:  # a loopback port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = OpenAIBackend("canned", base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, backoff=0.01, timeout=2)
    with pytest.raises(BackendConnectionError, match=r"could not reach .*127\.0\.0\.1"):
        dead.generate([{"role": "user", "content": "hi"}], 8, 0.0, None)
    assert dead.retries == 1


def test_cli_style_string_arguments_and_unknown_backend() -> None:
    agent = LLMPromptAgent(
        "openai", model="m", base_url="http://127.0.0.1:9/v1", max_new_tokens="64", temperature="0",
        seed="5", max_retries="2", timeout="3", send_seed="false",
    )
    assert (agent.max_new_tokens, agent.temperature, agent.seed) == (64, 0.0, 5)
    assert agent.backend.max_retries == 2 and agent.backend.send_seed is False and agent.name == "llm-prompt"
    with pytest.raises(ValueError, match="unknown LLM backend"):
        LLMPromptAgent("nope")


def test_llm_prompt_agent_on_the_leaderboard_through_the_cli(server: CannedServer, tmp_path) -> None:
    """``llmconfig bench --agents llm-prompt --agent-arg ...``: rates and transcripts land in the results."""
    from typer.testing import CliRunner

    from gymnasium_llmconfig.lab.cli import app
    from gymnasium_llmconfig.lab.leaderboard.store import ResultStore

    require_data("steplaw/dense_lr_bs_loss.csv")
    target = "LLMConfig-Pretrain-N537M-D50B-v0"
    good = configs(gymnasium.make(target), 1)[0]
    server.script = [(200, completion(json.dumps(good))), (200, completion(json.dumps(good)))]  # 2nd is a repeat
    args = ["bench", "--suite", "l2h", "--env", target, "--agents", "llm-prompt", "--budgets", "2", "--seeds", "1",
            "--workers", "0", "--no-progress", "--out", str(tmp_path)]
    for option in ("backend=openai", "model=canned", f"base_url={server.base_url}", "api_key_env=LLM_TEST_KEY",
                   "max_retries=0", "timeout=10"):
        args += ["--agent-arg", option]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (row,) = ResultStore(tmp_path).rows()
    assert row.agent.startswith("llm-prompt[") and "model=canned" in row.agent
    assert row.text_agent is True
    assert [s["valid"] for s in row.steps] == [True, False] and row.steps[1]["repeat"] is True
    assert (row.execution_rate, row.unique_config_rate) == (1.0, 0.5)
    assert row.outcome_reward == -1.0  # a repeat voids the episode's paper reward
    assert row.agent_record is not None and len(row.agent_record["turns"]) == 2
    report = (tmp_path / "leaderboard.md").read_text()
    assert "Execution" in report or "execution" in report
