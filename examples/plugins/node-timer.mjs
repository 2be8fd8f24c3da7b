// Example object plugin made with definePlugin: totals time spent per node and prints the
// slowest ones at shutdown. Subscribe it to `node.completed` only.
import { definePlugin } from "agent-engine";

export const NodeTimer = definePlugin({
  name: "NodeTimer",
  onStartup(plugin) {
    plugin.state.totals = new Map();
  },
  onEvent(event, plugin) {
    if (event.type !== "node.completed") return;
    const totals = plugin.state.totals;
    totals.set(event.nodeId, (totals.get(event.nodeId) ?? 0) + event.payload.durationMs);
  },
  onShutdown(plugin) {
    const top = [...plugin.state.totals].sort((a, b) => b[1] - a[1]).slice(0, plugin.config.top ?? 5);
    if (plugin.config.quiet !== true) {
      for (const [node, ms] of top) process.stderr.write(`[${plugin.pluginId}] ${node}: ${ms} ms\n`);
    }
    plugin.state.top = top;
  },
});

// A plain object with onEvent works too: the loader wraps it with definePlugin.
export default {
  onEvent(event, plugin) {
    plugin.state.count = (plugin.state.count ?? 0) + 1;
  },
};
