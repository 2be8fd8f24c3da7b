// A small knowledge-base MCP server shipped with the example, written with the official SDK.
// The engine starts it over stdio (tools.yaml: `command: [node, ./kb-server.mjs]`); its tools
// become kb.search and kb.fact. Offline: the facts are below.
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const FACTS = [
  { id: "f1", topic: "solar", text: "Solar PV added more capacity than all other renewables combined in 2023." },
  { id: "f2", topic: "wind", text: "Wind capacity additions reached a record in 2023, led by onshore projects." },
  { id: "f3", topic: "hydro", text: "Hydropower capacity grew by about 1 percent a year over the decade." },
  { id: "f4", topic: "solar", text: "Utility-scale solar is now the cheapest source of new electricity in most markets." },
];

const server = new Server({ name: "kb", version: "1.0.0" }, { capabilities: { tools: {} } });

server.setRequestHandler(ListToolsRequestSchema, async () => ({
  tools: [
    {
      name: "search",
      description: "Find facts about a topic. Returns {facts: [{id, text}]}.",
      inputSchema: { type: "object", properties: { query: { type: "string" } }, required: ["query"] },
    },
    {
      name: "fact",
      description: "One fact by id. Returns {id, topic, text}.",
      inputSchema: { type: "object", properties: { id: { type: "string" } }, required: ["id"] },
    },
  ],
}));

server.setRequestHandler(CallToolRequestSchema, async ({ params }) => {
  const args = params.arguments ?? {};
  if (params.name === "search") {
    const words = String(args.query).toLowerCase().split(/\W+/).filter(Boolean);
    const facts = FACTS.filter((f) => words.some((w) => f.topic === w || f.text.toLowerCase().includes(w))).map(({ id, text }) => ({ id, text }));
    return { content: [{ type: "text", text: JSON.stringify({ facts }) }], structuredContent: { facts } };
  }
  if (params.name === "fact") {
    const fact = FACTS.find((f) => f.id === args.id);
    if (!fact) return { content: [{ type: "text", text: `no fact ${args.id}` }], isError: true };
    return { content: [{ type: "text", text: fact.text }], structuredContent: fact };
  }
  return { content: [{ type: "text", text: `unknown tool ${params.name}` }], isError: true };
});

await server.connect(new StdioServerTransport());
