"""Approvals for 2026-07-28 clients without the Tasks extension: multi-round-trip requests.

A ``wait: true`` create_task / update_task from a 2026-07-28 client that declared
elicitation waits for the turn as before; when the agent asks for a decision
meanwhile, the call answers an ``InputRequiredResult``: the decision as an
elicitation form per open request (keyed by its request id), and a
``requestState`` naming the task and turn (sealed by the SDK's AES-GCM
`RequestStateBoundary`, bound to the call's tool, arguments and caller). The client
retries the same call with ``inputResponses`` and the state: the answers go to
``core.respond`` (the one decision path: the first answer wins) and the wait goes on
— no second task is created. Handshake-era clients are still asked by elicitation
on their session (`elicit.elicitation_asker`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from mcp.server.mcpserver import Context
from mcp.types import ElicitResult, InputRequiredResult
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from agentdeck.core import Core, PendingDecision, Respond, parse
from agentdeck.errors import AgentdeckError, InvalidInput, NotFound
from agentdeck.mcp.callers import caller_of
from agentdeck.mcp.elicit import answer_of, decision_request
from agentdeck.model import Task

log = logging.getLogger(__name__)
_STATE_VERSION = 1


@dataclass(frozen=True)
class Resumed:
    """A retried call: its task, the first turn it waits for, the requests it answered."""

    task: Task
    turn: int
    answered: frozenset[str]


def can_ask(ctx: Context) -> bool:
    """Whether decisions may go to this caller as ``InputRequiredResult`` (a 2026-07-28
    request that declared the elicitation capability)."""
    request = ctx.request_context
    if request.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return False
    capabilities = ctx.session.client_capabilities
    return capabilities is not None and capabilities.elicitation is not None


def ask(pending: list[PendingDecision], task_id: str, turn: int) -> InputRequiredResult:
    """The call's answer while ``pending`` wait on the caller."""
    state = json.dumps({"v": _STATE_VERSION, "task": task_id, "turn": turn})
    return InputRequiredResult(
        input_requests={p.request_id: decision_request(p) for p in pending},
        request_state=state,
    )


async def resume(core: Core, ctx: Context) -> Resumed | None:
    """The task of a retried call, after its ``inputResponses`` went to the decisions;
    None for a first call."""
    raw = ctx.request_state
    if raw is None:
        return None
    try:  # sealed by us (the SDK's boundary verified it), so its shape is ours
        state = json.loads(raw)
        task_id, turn = str(state["task"]), int(state["turn"])
    except (ValueError, KeyError, TypeError):
        raise InvalidInput("requestState is not one this server minted", {}) from None
    task = await core.get(task_id)
    caller = caller_of(ctx.request_context)
    answered: set[str] = set()
    for key, response in (ctx.input_responses or {}).items():
        try:
            answer = answer_of(ElicitResult.model_validate(response, from_attributes=True))
        except ValueError as exc:  # pydantic's ValidationError is one too
            reason = (
                "it is not an elicitation result" if isinstance(exc, ValidationError) else str(exc)
            )
            raise InvalidInput(
                f"inputResponses[{key!r}]: {reason}. Accepted: action accept with content "
                "{decision: allow | deny | allow_always, message}, decline (deny) or cancel",
                {"key": key},
            ) from None
        if answer is None:
            continue  # dismissed: the decision stays open
        decision, message = answer
        request = {"id": task.id, "decision": decision, "message": message, "request_id": key}
        try:
            await core.respond(parse(Respond, request), by=caller.who)
        except (NotFound, AgentdeckError) as exc:
            log.info("inputResponses %s for %s: %s", key, task.id, exc)  # answered elsewhere
        answered.add(key)
    return Resumed(task, turn, frozenset(answered))
