// An example read-only plugin: counts what a run did and prints one line per finished task.
// It only observes; nothing it does can change the run.
import { PluginBase } from "agent-engine";

export class RunSummary extends PluginBase {
  nodes = 0;
  llmCalls = 0;
  tokens = 0;

  onEvent(event) {
    switch (event.type) {
      case "node.completed":
        this.nodes++;
        break;
      case "agent.response":
        this.llmCalls++;
        this.tokens += (event.payload.usage?.inputTokens ?? 0) + (event.payload.usage?.outputTokens ?? 0);
        break;
      case "task.completed":
      case "task.failed":
        // Root tasks have no parent; clones and subtasks end inside the run.
        if (event.taskId.includes(".")) break;
        process.stderr.write(
          `${this.config.prefix ?? "[summary]"} task ${event.taskId} ${event.payload.status}: ` +
            `${this.nodes} nodes, ${this.llmCalls} LLM calls, ~${this.tokens} tokens\n`,
        );
        break;
    }
  }
}
