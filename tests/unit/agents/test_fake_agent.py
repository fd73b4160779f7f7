"""FakeAgent: scripted turns at the Agent seam, without a process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from agentdeck.agents import Agent, Capabilities
from agentdeck.agents.base import Approver, TurnRequest
from agentdeck.agents.testing import Ask, Event, Fail, FakeAgent, Gate, Hang, Say
from agentdeck.model import EventKind, NewEvent
from support.approver import Approvals

pytestmark = pytest.mark.anyio


def request(
    instructions: str = "fix the bug",
    *,
    resume: str | None = None,
    approve: Approver | None = None,
    turn: int = 1,
) -> TurnRequest:
    return TurnRequest(
        task_id="t-1",
        turn=turn,
        instructions=instructions,
        cwd=Path("/tmp/project"),
        model="m-1",
        resume_session_id=resume,
        approve=approve,
    )


async def play(agent: FakeAgent, req: TurnRequest) -> list[NewEvent]:
    events: list[NewEvent] = []
    with anyio.fail_after(5):
        await agent.run(req, events.append)
    return events


def kinds(events: list[NewEvent]) -> list[str]:
    return [e.kind for e in events]


def test_it_is_an_agent() -> None:
    agent: Agent = FakeAgent()
    assert agent.name == "fake"
    assert agent.capabilities == Capabilities(approvals=True, resume=True, cost=True)
    assert not FakeAgent(usage=None).capabilities.cost  # no usage reported: no cost


async def test_default_turn_echoes_the_instructions() -> None:
    agent = FakeAgent()
    req = request("fix the bug")
    events = await play(agent, req)
    assert kinds(events) == ["turn_started", "session", "message", "usage", "turn_finished"]
    assert all(e.turn == 1 for e in events)
    started, session, message, usage, finished = (e.data for e in events)
    assert started == {
        "instructions": "fix the bug",
        "agent": "fake",
        "argv": [],
        "pid": None,
        "cwd": "/tmp/project",
        "resume": None,
        "model": "m-1",
    }
    assert session["session_id"] == "fake-t-1"
    assert message == {"role": "assistant", "text": "fix the bug"}
    assert usage["input_tokens"] > 0
    assert finished["success"] is True
    assert finished["result_text"] == "fix the bug"
    assert finished["num_turns"] == 1
    assert finished["session_id"] == "fake-t-1"
    assert isinstance(finished["duration_ms"], int)
    assert agent.requests == [req]


async def test_a_resumed_turn_keeps_its_session() -> None:
    agent = FakeAgent()
    first = await play(agent, request("one"))
    assert first[-1].data["session_id"] == "fake-t-1"
    second = await play(agent, request("two", resume="s-earlier", turn=2))
    assert second[0].data["resume"] == "s-earlier"
    assert second[1].data["session_id"] == "s-earlier"
    assert second[-1].data["session_id"] == "s-earlier"
    assert [r.resume_session_id for r in agent.requests] == [None, "s-earlier"]
    assert [r.instructions for r in agent.requests] == ["one", "two"]


async def test_an_allowed_tool_use_asks_then_runs() -> None:
    approve = Approvals((True, "go ahead"))
    agent = FakeAgent(steps=[Ask("Bash", {"command": "ls"}, prompt="list?", output="a b")])
    events = await play(agent, request(approve=approve))
    assert approve.asked == [("Bash", {"command": "ls"}, "list?")]
    assert agent.answers == [(True, "go ahead")]
    assert kinds(events)[2:] == ["tool_call", "tool_result", "usage", "turn_finished"]
    call, result = events[2].data, events[3].data
    assert call == {"id": result["id"], "name": "Bash", "input": {"command": "ls"}}
    assert result["output"] == "a b" and result["is_error"] is False
    assert events[-1].data["success"] is True


async def test_a_denied_tool_use_reports_the_refusal_and_continues() -> None:
    approve = Approvals((False, "not that"))
    agent = FakeAgent(steps=[Ask("Write"), Say("fine, I stop")])
    events = await play(agent, request(approve=approve))
    assert agent.answers == [(False, "not that")]
    result = next(e.data for e in events if e.kind == EventKind.TOOL_RESULT)
    assert result["is_error"] is True and result["output"] == "not that"
    assert events[-1].data["success"] is True
    assert events[-1].data["result_text"] == "fine, I stop"


async def test_a_denied_tool_use_can_fail_the_turn() -> None:
    approve = Approvals((False, "no"))
    agent = FakeAgent(steps=[Ask("Write", on_deny="fail"), Say("never said")])
    events = await play(agent, request(approve=approve))
    assert kinds(events)[-2:] == ["tool_result", "turn_finished"]
    assert kinds(events).count("turn_finished") == 1
    finished = events[-1].data
    assert finished["success"] is False
    assert finished["error"] == "Write was denied: no"
    assert all(e.kind != EventKind.MESSAGE for e in events)


async def test_without_an_approver_the_tool_runs_unasked() -> None:
    agent = FakeAgent(steps=[Ask("Bash", output="done")])
    events = await play(agent, request(approve=None))
    assert agent.answers == []
    result = next(e.data for e in events if e.kind == EventKind.TOOL_RESULT)
    assert result["output"] == "done" and result["is_error"] is False


async def test_fail_ends_the_turn_there() -> None:
    agent = FakeAgent(steps=[Say("trying"), Fail("boom"), Say("unreachable")])
    events = await play(agent, request())
    assert kinds(events) == ["turn_started", "session", "message", "turn_finished"]
    assert events[-1].data["success"] is False
    assert events[-1].data["error"] == "boom"
    assert events[-1].data["result_text"] == "trying"


async def test_a_script_decides_per_request_and_may_finish_the_turn_itself() -> None:
    def script(req: TurnRequest) -> list[Any]:
        if req.instructions == "crash":
            return [Event(EventKind.TURN_FINISHED, {"success": False, "error": "raw"})]
        return [Event(EventKind.LOG, {"text": "hello"}), Say("ok")]

    agent = FakeAgent(script=script)
    crashed = await play(agent, request("crash"))
    assert kinds(crashed) == ["turn_started", "session", "turn_finished"]
    assert crashed[-1].data == {"success": False, "error": "raw"}
    fine = await play(agent, request("other"))
    assert kinds(fine) == ["turn_started", "session", "log", "message", "usage", "turn_finished"]
    assert fine[2].data == {"text": "hello"}


def test_steps_and_script_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="not both"):
        FakeAgent(steps=[], script=lambda _: [])


async def test_hang_waits_until_cancelled() -> None:
    hang = Hang()
    agent = FakeAgent(steps=[Say("working"), hang])
    events: list[NewEvent] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(agent.run, request(), events.append)
            await hang.reached.wait()
            assert kinds(events) == ["turn_started", "session", "message"]
            tg.cancel_scope.cancel()
    assert agent.cancelled == 1
    assert EventKind.TURN_FINISHED not in kinds(events)


async def test_hang_ends_at_a_timeout() -> None:
    agent = FakeAgent(steps=[Hang()])
    events: list[NewEvent] = []
    with anyio.move_on_after(0.05) as scope:
        await agent.run(request(), events.append)
    assert scope.cancelled_caught
    assert agent.cancelled == 1
    assert kinds(events) == ["turn_started", "session"]


async def test_gate_holds_the_turn_until_opened() -> None:
    gate = Gate()
    agent = FakeAgent(steps=[Say("before"), gate, Say("after")])
    events: list[NewEvent] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(agent.run, request(), events.append)
            await gate.reached.wait()
            assert [e.data.get("text") for e in events if e.kind == EventKind.MESSAGE] == ["before"]
            assert EventKind.TURN_FINISHED not in kinds(events)
            gate.open()
    assert events[-1].kind == EventKind.TURN_FINISHED
    assert events[-1].data["result_text"] == "after"
    assert agent.cancelled == 0


async def test_probe_and_configured_capabilities() -> None:
    agent = FakeAgent("other", capabilities=Capabilities(cost=True), usage={"cost_usd": 0.5})
    info = await agent.probe()
    assert info.name == "other" and info.available
    assert info.capabilities == {"approvals": False, "resume": False, "steer": False, "cost": True}
    events = await play(agent, request())
    assert events[-2].data == {"cost_usd": 0.5}
    assert events[-1].data["cost_usd"] == 0.5


async def test_no_usage_event_when_usage_is_none() -> None:
    events = await play(FakeAgent(usage=None), request())
    assert EventKind.USAGE not in kinds(events)
    assert events[-1].data["success"] is True
