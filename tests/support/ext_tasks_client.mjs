// The pinned third-party Tasks client (@modelcontextprotocol/ext-tasks, on the official
// @modelcontextprotocol/client) against an MCP 2026-07-28 server with the Tasks extension.
//
//   node ext_tasks_client.mjs URL SCENARIO [TOKEN]
//
// SCENARIO: create | approve | cancel. Prints one JSON object per line ({"event": ...});
// the last is {"event": "done"} or {"event": "error"}. `cancel` waits for a line on
// stdin before it cancels (the caller first sees the agent's processes running).
//
// The SDK Client connects (server/discover, pinned to 2026-07-28) and serves tools/list;
// tools/call and tasks/* go through `rawDispatch`, as the library requires for a V2
// server: one fetch POST per request, the 2026-07-28 headers, the JSON or SSE answer.
import { createInterface } from "node:readline";

import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import {
  createApplicationInputHandler,
  createTaskSessionFromClient,
  DispatchError,
  resultFromTaskOutcome,
} from "@modelcontextprotocol/ext-tasks/client";

const VERSION = "2026-07-28";
const CLIENT_INFO = { name: "ext-tasks-client", version: "0.2.2" };
const [url, scenario, token] = process.argv.slice(2);
const auth = token ? { Authorization: `Bearer ${token}` } : {};

function emit(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

/** The JSON-RPC messages of a text/event-stream body (its data: lines). */
function sseMessages(body) {
  const messages = [];
  let data = [];
  for (const line of [...body.split(/\r?\n/), ""]) {
    if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    else if (line === "" && data.length > 0) {
      messages.push(JSON.parse(data.join("\n")));
      data = [];
    }
  }
  return messages;
}

let nextId = 1;

/** RawClientDispatch: `request` is {method, params} already framed with the V2 _meta. */
async function rawDispatch(request, options = {}) {
  const id = nextId++;
  const params = request.params ?? {};
  const headers = {
    "Content-Type": "application/json",
    Accept: "application/json, text/event-stream",
    "MCP-Protocol-Version": VERSION,
    "Mcp-Method": request.method,
    ...auth,
    ...(typeof params.name === "string" ? { "Mcp-Name": params.name } : {}),
    ...(options.context?.headers ?? {}), // tasks/*: Mcp-Name = the taskId
  };
  emit("wire", { method: request.method, name: headers["Mcp-Name"] ?? null });
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify({ jsonrpc: "2.0", id, ...request }),
      signal: options.signal,
    });
  } catch (error) {
    throw new DispatchError(`POST ${request.method} failed`, true, { cause: error });
  }
  const text = await response.text();
  const type = response.headers.get("content-type") ?? "";
  let messages;
  try {
    messages = type.startsWith("text/event-stream") ? sseMessages(text) : [JSON.parse(text)];
  } catch (error) {
    throw new DispatchError(`HTTP ${response.status}: ${text.slice(0, 200)}`, false, {
      cause: error,
    });
  }
  const answer = messages.filter((m) => m.id === id).at(-1);
  if (answer === undefined) throw new DispatchError(`no answer to ${id}: ${text.slice(0, 200)}`);
  return "error" in answer
    ? { kind: "error", error: answer.error }
    : { kind: "result", result: answer.result };
}

const onInputRequest = createApplicationInputHandler({
  elicitation: (request, context) => {
    emit("input", {
      scope: context.scope,
      delivery: context.delivery,
      taskId: context.taskId ?? null,
      inputId: context.inputId ?? null,
      message: request.params.message,
      decisions: request.params.requestedSchema?.properties?.decision?.enum ?? null,
    });
    return { action: "accept", content: { decision: "allow" } };
  },
  sampling: () => {
    throw new Error("no sampling here");
  },
  roots: () => ({ roots: [] }),
});

const SCENARIOS = {
  create: { title: "ext-tasks", instructions: "SAY hello from ext-tasks" },
  approve: { title: "ext-tasks approval", instructions: "BASH echo approved > ext-tasks.txt" },
  cancel: {
    title: "ext-tasks cancel",
    instructions: "BASH python3 -c 'import time; time.sleep(300)'",
  },
};

function stdinLine() {
  const lines = createInterface({ input: process.stdin });
  return new Promise((resolve) => lines.once("line", (line) => resolve(line))).finally(() =>
    lines.close(),
  );
}

function taskEvent(event) {
  if (event.type === "task")
    emit("task", {
      taskId: event.task.taskId,
      status: event.task.status,
      statusMessage: event.task.statusMessage ?? null,
    });
  else emit("outcome", { status: event.outcome.status });
}

async function run(session) {
  const execution = await session.callTool("create_task", SCENARIOS[scenario]);
  emit("created", { kind: execution.kind, taskId: execution.handle?.taskId ?? null });
  if (execution.kind !== "task") {
    emit("immediate", { result: resultFromTaskOutcome(await execution.result()) });
    return;
  }
  if (scenario === "cancel") {
    await stdinLine();
    await execution.cancel();
    emit("cancel_acknowledged", { taskId: execution.handle.taskId });
  }
  const { outcome, lastTask } = await execution.settle({ onEvent: taskEvent });
  emit("settled", { status: outcome.status, lastStatus: lastTask?.status ?? null });
  if (outcome.status === "completed") emit("result", { result: resultFromTaskOutcome(outcome) });
  if (outcome.status === "failed") emit("failure", { message: outcome.error.message });
  if (scenario === "cancel") {
    const view = await session.task(execution.handle.taskId).snapshot();
    emit("server_view", { status: view.status, statusMessage: view.statusMessage ?? null });
  }
}

async function main() {
  if (!(scenario in SCENARIOS)) throw new Error(`unknown scenario ${scenario}`);
  const client = new Client(CLIENT_INFO, { versionNegotiation: { mode: { pin: VERSION } } });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: auth },
  });
  await client.connect(transport);
  const capabilities = client.getServerCapabilities() ?? {};
  emit("connected", {
    era: client.getProtocolEra() ?? null,
    extensions: Object.keys(capabilities.extensions ?? {}),
  });
  const session = createTaskSessionFromClient(client, {
    endpointId: `agentdeck ${url}`,
    rawDispatch,
    v2RequestFraming: {
      protocolVersion: VERSION,
      clientInfo: CLIENT_INFO,
      clientCapabilities: {},
    },
    onInputRequest,
    onError: (error) => emit("background_error", { message: String(error?.message ?? error) }),
  });
  emit("session", { capabilities: session.capabilities });
  try {
    await run(session);
  } finally {
    await session.close();
    await client.close();
  }
}

try {
  await main();
  emit("done");
} catch (error) {
  emit("error", {
    name: error?.name ?? null,
    message: String(error?.message ?? error),
    cause: error?.cause ? String(error.cause?.message ?? error.cause) : null,
  });
  process.exitCode = 1;
}
