"""The CLI face: the ``agentdeck`` command (client commands talk to a server's REST API)."""

from __future__ import annotations

import typer

from agentdeck.cli import costs as cli_costs
from agentdeck.cli import doctor as cli_doctor
from agentdeck.cli import login as cli_login
from agentdeck.cli import open as cli_open
from agentdeck.cli import serve as cli_serve
from agentdeck.cli import tasks as cli_tasks
from agentdeck.cli import worker as cli_worker
from agentdeck.cli import workers as cli_workers
from agentdeck.cli.notify import notify_app
from agentdeck.cli.service import service_app
from agentdeck.cli.tokens import audit, token_app

app = typer.Typer(
    name="agentdeck",
    help="Run AI coding agents on this machine, steered from any MCP client.\n\n"
    "Client commands (run, tasks, show, …) talk to a server: --url, else $AGENTDECK_URL, "
    "else the one `agentdeck login` stored, else http://HOST:PORT/mcp from the "
    "configuration. Its token: $AGENTDECK_TOKEN, else the stored login's.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(cli_tasks.run)
app.command("continue")(cli_tasks.continue_)
app.command()(cli_tasks.tasks)
app.command()(cli_tasks.show)
app.command()(cli_tasks.logs)
app.command()(cli_tasks.cancel)
app.command()(cli_tasks.end)
app.command("approve")(cli_tasks.respond("allow"))
app.command("allow-always")(cli_tasks.respond("allow_always"))
app.command("deny")(cli_tasks.respond("deny"))
app.command()(cli_tasks.diff)
app.command()(cli_tasks.merge)
app.command()(cli_costs.costs)
app.command()(cli_login.login)
app.command()(cli_login.logout)
app.command("open")(cli_open.open_)
app.command()(cli_doctor.doctor)
app.add_typer(notify_app)
app.add_typer(service_app)
app.add_typer(token_app, name="token")
app.command("audit")(audit)
app.command()(cli_serve.serve)
app.command()(cli_worker.worker)
app.command()(cli_workers.workers)
app.command()(cli_serve.version)


def main() -> None:
    app(prog_name="agentdeck")


if __name__ == "__main__":
    main()
