"""The top layer's one fan-out (runner and collector): the in-process executor's contract."""

from __future__ import annotations

import pytest

from gymnasium_llmconfig.lab.executor import InlineExecutor, make_executor


def test_inline_executor_runs_calls_in_submission_order_when_their_results_are_read() -> None:
    calls: list[int] = []

    def record(x: int) -> int:
        calls.append(x)
        return x * x

    with make_executor(0) as executor:
        assert isinstance(executor, InlineExecutor)
        running = {executor.submit(record, x, num_cpus=2): x for x in (3, 1, 2)}
        assert calls == []  # nothing runs before its result is asked for
        results = []
        for handle in executor.as_completed(running):
            results.append((running.pop(handle), executor.result(handle)))
    assert results == [(3, 9), (1, 1), (2, 4)] and calls == [3, 1, 2]


def test_a_failing_call_raises_where_its_result_is_read() -> None:
    executor = InlineExecutor()
    handle = executor.submit(int, "not a number")
    assert executor.task_errors == ()  # in process, a call's error is the caller's error
    with pytest.raises(ValueError, match="not a number"):
        executor.result(handle)
