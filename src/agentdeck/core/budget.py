"""Budgets: ``max_cost_usd`` and ``max_tokens`` per task, checked at every usage report.

Claude Code reports tokens on each assistant message (a provisional figure, priced here
from `PRICES`) and its real cost at the end of a turn; other agents report at the end
only, and are checked there. Tokens counted: input, output and cache writes (cache
reads are not). A crossed budget stops the turn, keeps the conversation, and asks the
user (a decision of kind ``budget``): allow raises each limit by its first amount.
"""

from __future__ import annotations

from typing import Any

from agentdeck.model import Task

# Published list prices, USD per million tokens: input, output. Cache reads cost 0.1×
# input, cache writes (5 minutes) 1.25×. Longest matching model-name prefix wins.
PRICES_AS_OF = "2026-12-01"
PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
}
FALLBACK = PRICES["claude-opus-4"]  # an unknown model is priced as the dearest

CONTINUE_PROMPT = (
    "You were paused because this task reached its budget; the user has raised it. "
    "Carry on with the task from where you left off."
)


def price(model: str | None, usage: dict[str, Any]) -> float:
    """The cost in USD of one usage report's tokens for ``model``."""
    name = model or ""
    matches = [p for p in PRICES if name.startswith(p)]
    per_input, per_output = PRICES[max(matches, key=len)] if matches else FALLBACK
    tokens = _tokens(usage)
    return (
        tokens["input"] * per_input
        + tokens["output"] * per_output
        + tokens["cache_read"] * per_input * 0.1
        + tokens["cache_creation"] * per_input * 1.25
    ) / 1_000_000


def counted(usage: dict[str, Any]) -> int:
    """The tokens a budget counts: input, output and cache writes."""
    tokens = _tokens(usage)
    return tokens["input"] + tokens["output"] + tokens["cache_creation"]


def _tokens(usage: dict[str, Any]) -> dict[str, int]:
    return {
        key: int(usage.get(f"{key}_tokens") or 0)
        for key in ("input", "output", "cache_read", "cache_creation")
    }


def crossed(task: Task, extra_cost: float = 0.0, extra_tokens: int = 0) -> dict[str, Any] | None:
    """What the task has spent against which limit, when it reached one (else None).

    ``extra_*``: what the running turn has used so far beyond the task's totals."""
    spent = task.cost_usd + extra_cost
    tokens = task.input_tokens + task.output_tokens + task.cache_creation_tokens + extra_tokens
    if task.max_cost_usd is not None and spent >= task.max_cost_usd:
        return {
            "kind": "cost",
            "spent_usd": round(spent, 6),
            "limit_usd": task.max_cost_usd,
            "text": f"spent ${spent:.4f} of its ${task.max_cost_usd:.4f} budget",
        }
    if task.max_tokens is not None and tokens >= task.max_tokens:
        return {
            "kind": "tokens",
            "tokens": tokens,
            "limit_tokens": task.max_tokens,
            "text": f"used {tokens:,} of its {task.max_tokens:,} token budget",
        }
    return None


def raise_limits(task: Task) -> None:
    """Allow: each limit goes up by its first amount."""
    step = task.budget_step or {}
    if task.max_cost_usd is not None:
        task.max_cost_usd = round(task.max_cost_usd + float(step.get("cost_usd") or 0), 6)
    if task.max_tokens is not None:
        task.max_tokens += int(step.get("tokens") or 0)
