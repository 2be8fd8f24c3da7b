/**
 * LangGraph.js on the bench shapes, with trivial synchronous node functions: a linear chain of
 * 10 nodes, and a fan-out of 8 parallel nodes joined by a reducer channel. The observer variant
 * passes one `BaseCallbackHandler` through `config.callbacks`, the way a LangGraph user attaches
 * an observer. LangChain runs handlers in a background queue by default; every batch awaits that
 * queue before it stops the clock, so the handler's work is counted.
 *
 * @module
 */
import { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import { awaitAllCallbacks } from "@langchain/core/callbacks/promises";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import type { BenchCase } from "./harness.js";
import { FAN_WIDTH, LINEAR_LENGTH, TASK_INPUT, type TaskInput } from "./shapes.js";

/** Counts every callback it receives; does nothing else (the "no-op observer"). */
export class CountingHandler extends BaseCallbackHandler {
  name = "bench-observer";
  count = 0;
  override handleChainStart(): void {
    this.count++;
  }
  override handleChainEnd(): void {
    this.count++;
  }
  override handleChainError(): void {
    this.count++;
  }
}

const LinearState = Annotation.Root({
  value: Annotation<TaskInput["value"]>,
  n: Annotation<number>,
});

const FanState = Annotation.Root({
  value: Annotation<TaskInput["value"]>,
  n: Annotation<number>,
  results: Annotation<number[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

type NodeFn = (state: Record<string, unknown>) => Record<string, unknown> | Promise<Record<string, unknown>>;

/** StateGraph's builder typed loosely so nodes can be added in a loop. */
interface LooseGraph {
  addNode(name: string, fn: NodeFn): LooseGraph;
  addEdge(from: string | string[], to: string): LooseGraph;
  compile(): CompiledGraph;
}

/** The part of a compiled graph the bench uses. */
export interface CompiledGraph {
  invoke(input: unknown, config?: { callbacks?: BaseCallbackHandler[] }): Promise<Record<string, unknown>>;
}

/** START -> n0 -> n1 -> ... -> n9 -> END. */
export function buildLinearGraph(length = LINEAR_LENGTH): CompiledGraph {
  const g = new StateGraph(LinearState) as unknown as LooseGraph;
  for (let i = 0; i < length; i++) g.addNode(`n${i}`, () => ({ n: i }));
  g.addEdge(START, "n0");
  for (let i = 1; i < length; i++) g.addEdge(`n${i - 1}`, `n${i}`);
  g.addEdge(`n${length - 1}`, END);
  return g.compile();
}

/** START -> start -> fan -> w0..w7 (parallel) -> join -> done -> END, the workers appending to a reducer channel. */
export function buildFanOutGraph(width = FAN_WIDTH, worker?: (i: number) => Promise<Record<string, unknown>>): CompiledGraph {
  const g = new StateGraph(FanState) as unknown as LooseGraph;
  g.addNode("start", () => ({ n: 0 }));
  g.addNode("fan", () => ({ n: 1 }));
  for (let i = 0; i < width; i++) g.addNode(`w${i}`, worker ? () => worker(i) : () => ({ results: [i] }));
  g.addNode("join", (s) => ({ n: (s["results"] as number[]).length }));
  g.addNode("done", (s) => ({ n: (s["n"] as number) + 1 }));
  g.addEdge(START, "start");
  g.addEdge("start", "fan");
  for (let i = 0; i < width; i++) {
    g.addEdge("fan", `w${i}`);
    g.addEdge(`w${i}`, "join");
  }
  g.addEdge("join", "done");
  g.addEdge("done", END);
  return g.compile();
}

/** The LangGraph cases: linear-10 and fan-out-8, each bare and with one callback handler. */
export function langGraphCases(): BenchCase[] {
  const linear = buildLinearGraph();
  const fan = buildFanOutGraph();
  const linearObserver = new CountingHandler();
  const fanObserver = new CountingHandler();
  let lastLinear: Record<string, unknown> | undefined;
  let lastFan: Record<string, unknown> | undefined;
  return [
    {
      name: "langgraph-linear-10",
      group: "linear-10",
      unit: "task",
      description: "LangGraph.js StateGraph, 10 sync nodes in a chain, invoke()",
      async batch(n) {
        for (let i = 0; i < n; i++) lastLinear = await linear.invoke(TASK_INPUT);
      },
      verify() {
        if (lastLinear?.["n"] !== LINEAR_LENGTH - 1) throw new Error(`langgraph linear: unexpected output ${JSON.stringify(lastLinear)}`);
      },
    },
    {
      name: "langgraph-linear-10-observer",
      group: "linear-10",
      unit: "task",
      description: "same, one BaseCallbackHandler via config.callbacks",
      async batch(n) {
        for (let i = 0; i < n; i++) lastLinear = await linear.invoke(TASK_INPUT, { callbacks: [linearObserver] });
        await awaitAllCallbacks();
      },
      verify() {
        if (linearObserver.count === 0) throw new Error("langgraph linear observer received no callbacks");
      },
    },
    {
      name: "langgraph-fan-out-8",
      group: "fan-out-8",
      unit: "task",
      description: "LangGraph.js StateGraph, start -> fan -> 8 parallel -> join -> done, reducer channel",
      async batch(n) {
        for (let i = 0; i < n; i++) lastFan = await fan.invoke(TASK_INPUT);
      },
      verify() {
        if (lastFan?.["n"] !== FAN_WIDTH + 1) throw new Error(`langgraph fan-out: unexpected output ${JSON.stringify(lastFan)}`);
      },
    },
    {
      name: "langgraph-fan-out-8-observer",
      group: "fan-out-8",
      unit: "task",
      description: "same, one BaseCallbackHandler via config.callbacks",
      async batch(n) {
        for (let i = 0; i < n; i++) lastFan = await fan.invoke(TASK_INPUT, { callbacks: [fanObserver] });
        await awaitAllCallbacks();
      },
      verify() {
        if (fanObserver.count === 0) throw new Error("langgraph fan-out observer received no callbacks");
      },
    },
  ];
}

/** Per-handler callback counts for the report (how many callbacks one task produces). */
export async function callbacksPerTask(): Promise<{ linear: number; fanOut: number }> {
  const h1 = new CountingHandler();
  await buildLinearGraph().invoke(TASK_INPUT, { callbacks: [h1] });
  const h2 = new CountingHandler();
  await buildFanOutGraph().invoke(TASK_INPUT, { callbacks: [h2] });
  await awaitAllCallbacks();
  return { linear: h1.count, fanOut: h2.count };
}
