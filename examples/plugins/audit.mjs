// Example class plugin: keeps an audit trail of task outcomes and node failures and writes a
// summary file at shutdown. Reference it from plugins.yaml as `./plugins/audit.mjs#AuditPlugin`
// (copy this file next to your plugins.yaml) or construct it in code.
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { PluginBase } from "agent-engine";

export class AuditPlugin extends PluginBase {
  tasks = new Map();
  failures = [];

  onEvent(event) {
    switch (event.type) {
      case "task.completed":
      case "task.failed":
        this.tasks.set(event.taskId, event.payload.status);
        break;
      case "node.failed":
        // The event is frozen and shared: copy what you keep, never edit it.
        this.failures.push({ taskId: event.taskId, nodeId: event.nodeId, code: event.payload.error.code });
        break;
      default:
        break;
    }
  }

  async onShutdown() {
    const path = this.config.path ?? "audit-summary.json";
    const file = isAbsolute(path) ? path : resolve(this.context.configDir ?? process.cwd(), path);
    const byStatus = {};
    for (const status of this.tasks.values()) byStatus[status] = (byStatus[status] ?? 0) + 1;
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify({ tasks: this.tasks.size, byStatus, failures: this.failures }, null, 2)}\n`);
  }
}
