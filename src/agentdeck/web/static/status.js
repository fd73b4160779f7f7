// Task statuses: their labels, groups and what each allows.

const LABELS = {
  pending: "queued",
  in_progress: "working",
  input_required: "asks for your decision",
  waiting: "waiting for you to continue",
  interrupted: "interrupted",
  parked: "parked at a usage limit",
  completed: "completed",
  failed: "failed",
  cancelled: "cancelled",
};

export const ACTIVE = new Set(["pending", "in_progress", "input_required"]);
export const TERMINAL = new Set(["completed", "failed", "cancelled"]);

export function label(status) {
  return LABELS[status] ?? status;
}

/** "needs-you", "working" or "done". */
export function group(task) {
  if (task.status === "input_required" || task.needs_you === true) return "needs-you";
  if (["pending", "in_progress", "parked"].includes(task.status)) return "working";
  return "done";
}
