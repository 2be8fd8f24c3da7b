/**
 * The public entry point: load a config directory, run tasks, read events, manage plugins.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { AgentRunner, providerSecrets, UsageTotals } from "../agents/AgentRunner.js";
import { Recorder, recordedTools, type RecordingOptions, type ToolCaller } from "../agents/recording.js";
import { decisionLabels } from "./router.js";
import type { LlmProvider } from "../agents/types.js";
import { compileSchema } from "../dag/compileSchema.js";
import { loadProject } from "../dag/buildGraph.js";
import type { ProjectConfig } from "../config/types.js";
import type { CompiledSchema, GraphNode, WorkflowGraph } from "../dag/types.js";
import { EngineError, StageError, errorMessage, type ErrorCode, type ErrorDetail } from "../errors.js";
import { isInstance, readSafely } from "../guard.js";
import type { NotJsonError} from "../json.js";
import { sealJson, type JsonValue } from "../json.js";
import { loadPlugins, type PluginLoadFailure } from "../plugins/loader.js";
import type { Plugin } from "../plugins/PluginBase.js";
import { PluginRegistry, type ShutdownReport } from "../plugins/PluginRegistry.js";
import type { EngineEvent, EventFilter } from "../telemetry/events.js";
import { createConsoleLogger, type Logger } from "../telemetry/logger.js";
import { TelemetryBus } from "../telemetry/TelemetryBus.js";
import { isoNow } from "../telemetry/clock.js";
import { ToolRegistry } from "../tools/ToolRegistry.js";
import { ContextAssembler } from "./ContextAssembler.js";
import { HandlerLoadProblem, HandlerWorkers } from "./HandlerWorkers.js";
import { importFailedMessage, loadExport, MISSING_EXPORT_HINT, missingExportMessage, resolveExport } from "./loadExport.js";
import { MemoryPlan, type MemoryBackend } from "./memory.js";
import type { LoadPolicy } from "../modules.js";
import { configChanges, configFingerprint, type ConfigFingerprint } from "./configHash.js";
import { JournalError, Run, type RunServices, type Scheduling, type StageScope } from "./Run.js";
import type { Answer, RunCheckpoint } from "./journal.js";
import { checkpointOf, MemoryRunStore, type RunStore, type StoredRun } from "./runStore.js";
import type { InterruptInfo, NodeHandler, RunOptions, RunResult, ToolHandler } from "./types.js";

/** Options of {@link Engine.fromConfigDir}. */
export interface EngineOptions {
  /** Handlers by node id; they override `handler:` in workflow.yaml. */
  readonly handlers?: Readonly<Record<string, NodeHandler>>;
  /** Tool implementations by tool id or `type`; they override `handler:` in tools.yaml. */
  readonly tools?: Readonly<Record<string, ToolHandler>>;
  /** LLM provider for every agent; default: the providers declared in agents.yaml. */
  readonly llm?: LlmProvider;
  /**
   * At most this many node executions (handlers, agent calls) run at once within a run's wave;
   * the rest wait their turn in order. Bounds fan-out of large splits against rate-limited LLM
   * APIs. Results and events are the same for any value. Default: workflow.yaml's
   * `defaults.max_concurrency`, else unlimited.
   */
  readonly maxConcurrency?: number;
  /**
   * What configuration may load besides files of the config directory and packages it can
   * resolve: `node:` builtins, `data:`/`http(s):` URLs, files (handlers, tools, plugins, memory
   * `file` stores) outside the config directory. Default: none of them
   * (`CONFIG_MODULE_NOT_ALLOWED`, `CONFIG_FILE_OUTSIDE_DIR`). The CLI's `--allow`.
   */
  readonly allow?: LoadPolicy;
  /**
   * How a run orders execution. `"eager"` (default): a stage starts as soon as its own input is
   * known, so a slow branch never holds back an unrelated fast one. `"waves"`: each wave of
   * ready stages runs only after the previous one is committed (the model of CONTRACT §3, kept
   * for comparison). Results and the event sequence are identical either way; only latency differs.
   */
  readonly scheduling?: Scheduling;
  /**
   * Record every LLM and tool call to a JSONL file, or replay a run from one (no network, no
   * tool side effects). See docs/agents.md.
   */
  readonly recording?: RecordingOptions;
  /**
   * Where runs are kept (CONTRACT §11): `"memory"` (default: in this process; a run suspended by
   * an interrupt can be resumed by this engine), `"sqlite:<path>"` or `"postgres://..."` (durable:
   * every commit point is journaled, so `resume()` continues a run after a crash, from any
   * process), or a {@link RunStore} object. The engine closes the store at `shutdown()`.
   */
  readonly store?: string | RunStore;
  /** Plugins to register in addition to those in plugins.yaml. */
  readonly plugins?: readonly Plugin[];
  /** Diagnostics (plugin failures, warnings). Default: stderr, level `AGENT_ENGINE_LOG_LEVEL` or `warn`. */
  readonly logger?: Logger;
  /** Events retained for `getEvents()` (oldest dropped first). Default 100,000. */
  readonly maxEvents?: number;
  /** How long `shutdown()` waits for pending plugin deliveries and each `onShutdown`. Default 5,000 ms. */
  readonly shutdownTimeoutMs?: number;
  /** Consecutive failures after which a plugin is switched off. Default 10. */
  readonly maxPluginFailures?: number;
  /**
   * `false` never connects the event bus to the plugin registry (events are still recorded).
   * For benchmarks measuring the cost of the plugin machinery; default `true`.
   */
  readonly pluginDispatch?: boolean;
}

/** Options of {@link Engine.resume}. */
export interface ResumeOptions {
  /** The answer to the interrupt (JSON). */
  readonly answer?: unknown;
  /** Which interrupt it answers; default the first waiting one. */
  readonly interruptId?: string;
  /** Cancels the continued run. */
  readonly signal?: AbortSignal;
  /**
   * Continue even though the configuration (workflow.yaml, agents.yaml, tools.yaml,
   * memory.yaml, schemas/) changed since the run started; default `false`, which refuses with
   * `RESUME_CONFIG_CHANGED`. What already ran is kept and replayed as recorded; if the new
   * configuration does not reproduce it, the resume fails with `RESUME_DIVERGED` and the run is
   * left as it was (stages the old run had not committed may have started before the mismatch
   * was found). The run keeps the fingerprint it started with, so every later resume needs this
   * flag too.
   */
  readonly allowConfigChange?: boolean;
}

/** One run as {@link Engine.listRuns} reports it. */
export interface RunSummary {
  readonly id: string;
  readonly status: "running" | "interrupted" | "success" | "failure" | "partial";
  readonly startedAt: string;
  readonly updatedAt: string;
  /** Nodes the run waits at (interrupted runs). */
  readonly currentNodes: readonly string[];
  readonly interrupts: readonly InterruptInfo[];
}

/** How long a lease on a run lasts without renewal (a crashed process's lease expires). */
const LEASE_MS = 30_000;
const NO_PENDING: readonly InterruptInfo[] = Object.freeze([]);

/** What {@link Engine.shutdown} reports. */
export type EngineShutdownReport = ShutdownReport;

/**
 * A workflow engine bound to one config directory.
 *
 * @example
 * ```ts
 * import { Engine } from "agent-engine";
 *
 * const engine = await Engine.fromConfigDir("./configs", {
 *   handlers: { normalize: (input) => ({ text: String((input as { text: string }).text).trim() }) },
 * });
 * const result = await engine.run({ text: " hi " });
 * console.log(result.status, result.output);
 * console.log(engine.getEvents({ type: "node.*", taskId: result.taskId }).length);
 * await engine.shutdown();
 * ```
 */
export class Engine {
  private readonly bus: TelemetryBus;
  private readonly registry: PluginRegistry;
  private readonly services: RunServices;
  private readonly tools: ToolRegistry;
  private readonly idPrefix = randomBytes(3).toString("hex");
  private taskCounter = 0;
  private readonly hasAgents: boolean;
  private runCounter = 0;
  /** Suspended runs' checkpoints when the store is not durable. */
  private readonly suspended = new Map<string, RunCheckpoint>();
  /** The configuration's fingerprint, recorded with durable runs (computed on first use). */
  private fingerprintCache: ConfigFingerprint | undefined;
  /** This engine's identity for run leases. */
  private readonly owner = `${hostname()}:${process.pid}:${randomBytes(6).toString("hex")}`;
  private closed = false;

  private constructor(
    /** The validated workflow graph. */
    readonly graph: WorkflowGraph,
    /** The loaded manifests. */
    readonly config: ProjectConfig,
    handlers: ReadonlyMap<string, NodeHandler>,
    tools: ToolRegistry,
    contexts: ContextAssembler,
    registry: PluginRegistry,
    bus: TelemetryBus,
    /** Plugins from plugins.yaml that failed to load (not required, so the engine started without them). */
    readonly pluginLoadFailures: readonly PluginLoadFailure[],
    private readonly shutdownTimeoutMs: number,
    maxConcurrency: number,
    private readonly scheduling: Scheduling,
    private readonly store: RunStore,
    private readonly agents: AgentRunner,
    private readonly toolCaller: ToolCaller,
    private readonly workers: HandlerWorkers,
    /** kv memory of memory.yaml (undefined: none declared). */
    private readonly memory: MemoryPlan | undefined,
  ) {
    this.bus = bus;
    this.registry = registry;
    this.hasAgents = graph.nodeList.some((n) => n.kind === "agent");
    this.tools = tools;
    this.services = {
      graph,
      bus,
      handlers,
      // The agent runner and the tool registry are engine code: a code they attach is an engine
      // code (StageError); anything else a handler throws is HANDLER_FAILED with its code kept apart.
      callAgent: (node, input, context, scope, resume) => this.callAgent(node, input, context, scope, resume, undefined),
      callTool: (_node, toolId, args, scope) => this.toolCaller(toolId, args, scope).catch(asStageError),
      assembleContext: (node) => contexts.assemble(node.context),
      contextStores: (profile) => contexts.kvStoresOf(profile),
      assembleWithMemory: (profile, entries) => contexts.assembleWith(profile, entries),
      newTaskId: () => `task-${this.idPrefix}-${++this.taskCounter}`,
      maxConcurrency,
    };
  }

  /**
   * Loads and validates a config directory (every manifest, every DAG rule; all problems at
   * once), resolves handlers, tools, LLM providers and plugins, and returns a ready engine.
   *
   * @throws {@link ConfigError} listing every problem in the manifests.
   * @throws {@link EngineError} for handlers, tools or providers that cannot be resolved.
   * @throws {@link PluginLoadError} when a `required: true` plugin cannot be loaded or started.
   */
  static async fromConfigDir(dir: string, options: EngineOptions = {}): Promise<Engine> {
    const maxConcurrency = options.maxConcurrency ?? Number.POSITIVE_INFINITY;
    if (typeof maxConcurrency !== "number" || !(maxConcurrency >= 1)) {
      throw new EngineError({ code: "INVALID_OPTION", path: "maxConcurrency", message: `maxConcurrency must be a number >= 1 (or omitted for no limit), got ${String(options.maxConcurrency)}` });
    }
    if (options.scheduling !== undefined && options.scheduling !== "eager" && options.scheduling !== "waves") {
      throw new EngineError({ code: "INVALID_OPTION", path: "scheduling", message: `scheduling must be "eager" or "waves", got ${String(options.scheduling)}` });
    }
    const { config, graph } = await loadProject(dir);
    // Handler workers (`isolation: worker`) are started here: every failure below closes them.
    const workers = new HandlerWorkers();
    try {
      return await Engine.assemble(options, maxConcurrency, config, graph, workers);
    } catch (err) {
      await workers.close();
      throw err;
    }
  }

  private static async assemble(options: EngineOptions, maxConcurrency: number, config: ProjectConfig, graph: WorkflowGraph, workers: HandlerWorkers): Promise<Engine> {
    const logger = options.logger ?? createConsoleLogger();
    const handlers = await resolveHandlers(graph, config, options.handlers ?? {}, options.allow, workers);
    const recorder = options.recording === undefined ? undefined : await Recorder.open(options.recording, providerSecrets(config.agents));
    const tools = await ToolRegistry.create(
      config.tools?.tools ?? [],
      options.tools ?? {},
      (ref, path, toolId) => loadExport(ref, config.dir, { file: config.files.tools, path, what: `implementation of tool "${toolId}"`, code: "TOOL_NOT_FOUND", ...(options.allow ? { allow: options.allow } : {}) }),
      (schema) => compileToolSchema(config, schema),
      config.files.tools,
      { configDir: config.dir, locate: (p) => config.locate("tools", p) },
    );
    const allowProblems = tools.checkNodes(graph.nodeList, config.files.workflow);
    if (allowProblems.length > 0) {
      await tools.close();
      throw new EngineError(allowProblems);
    }
    const agents = await AgentRunner.create({
      manifest: config.agents,
      configDir: config.dir,
      ...(config.files.agents ? { file: config.files.agents } : {}),
      ...(options.llm ? { llm: options.llm } : {}),
      schemas: config.schemas,
      toolIds: () => tools.ids(),
      toolInfo: (id) => {
        const d = tools.describe(id);
        return d ? { ...(d.description ? { description: d.description } : {}), parameters: d.schema } : undefined;
      },
      ...(recorder ? { recorder } : {}),
    }).catch(async (err: unknown) => {
      await tools.close();
      throw err;
    });
    const agentProblems = [
      ...(graph.nodeList.some((n) => n.kind === "agent") ? agents.check(config.files.agents) : []),
      ...(config.agents?.agents ?? []).flatMap((a, i) => tools.checkAllowList(a.tools ?? [], { ...(config.files.agents ? { file: config.files.agents } : {}), path: `/agents/${i}/tools` })),
    ];
    if (agentProblems.length > 0) {
      await tools.close();
      throw new EngineError(agentProblems);
    }
    const rawCall: ToolCaller = (toolId, args, scope) => tools.call(toolId, args, scope);
    const toolCaller = recorder ? recordedTools(recorder, rawCall) : rawCall;
    const contexts = await ContextAssembler.create(config.memory, config.dir, config.files.memory, options.allow).catch(async (err: unknown) => {
      await tools.close();
      throw err;
    });

    const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 5000;
    const registry = new PluginRegistry({
      logger,
      shutdownTimeoutMs,
      ...(options.maxPluginFailures === undefined ? {} : { maxConsecutiveFailures: options.maxPluginFailures }),
    });
    const bus = new TelemetryBus(options.maxEvents === undefined ? {} : { maxEvents: options.maxEvents });
    const plugins = await loadPlugins(config.plugins, {
      configDir: config.dir,
      file: config.files.plugins ?? "plugins.yaml",
      logger,
      registry,
      locate: (p) => config.locate("plugins", p),
      ...(options.allow === undefined ? {} : { allow: options.allow }),
    });
    if (plugins.error) {
      await tools.close();
      await registry.shutdown(shutdownTimeoutMs);
      throw plugins.error;
    }
    const failures = plugins.failures;
    for (const plugin of options.plugins ?? []) await registry.register(plugin);
    if (options.pluginDispatch !== false) bus.setSink((event) => registry.dispatch(event));
    // Opened last, so a config or plugin problem never leaves a database connection open.
    let store: RunStore;
    try {
      store = await openRunStore(options.store);
    } catch (err) {
      await tools.close();
      await registry.shutdown(shutdownTimeoutMs);
      throw err;
    }
    // Project scope is per project: memory.yaml's project_id, else the config directory.
    const memory = MemoryPlan.create(config.memory, graph, new Set(handlers.keys()), config.memory?.project_id ?? config.dir);
    if (memory?.hasShared === true && (typeof store.memoryGet !== "function" || typeof store.memoryList !== "function" || (!store.durable && typeof store.memoryApply !== "function"))) {
      await tools.close();
      await registry.shutdown(shutdownTimeoutMs);
      await store.close();
      throw new EngineError({
        code: "INVALID_OPTION",
        path: "store",
        message: "memory.yaml declares project or global kv stores, but the run store given in EngineOptions.store keeps no memory (it lacks memoryGet/memoryList, and memoryApply when it is not durable); use \"memory\", \"sqlite:<path>\" or \"postgres://...\"",
      });
    }
    return new Engine(graph, config, handlers, tools, contexts, registry, bus, Object.freeze(failures), shutdownTimeoutMs, Math.floor(options.maxConcurrency ?? graph.defaults.maxConcurrency ?? maxConcurrency), options.scheduling ?? "eager", store, agents, toolCaller, workers, memory);
  }

  /**
   * Runs one task from the default start node (or `options.startNode`) to completion. Workflow
   * failures do not reject: they are the result's `status` and `error`, and in its history.
   *
   * @throws {@link EngineError} `INPUT_NOT_JSON`, `UNKNOWN_START_NODE`, `INVALID_START_NODE`, `ENGINE_SHUT_DOWN`.
   */
  async run(input: unknown, options: RunOptions = {}): Promise<RunResult> {
    if (this.closed) throw new EngineError({ code: "ENGINE_SHUT_DOWN", message: "this engine was shut down; create a new one with Engine.fromConfigDir()" });
    const startId = options.startNode ?? this.graph.defaultStart;
    const start = this.graph.nodes.get(startId);
    if (!start) {
      throw new EngineError({ code: "UNKNOWN_START_NODE", message: `no node "${startId}" in the workflow; start nodes are: ${this.graph.starts.join(", ")}` });
    }
    if (start.role !== "start") {
      throw new EngineError({ code: "INVALID_START_NODE", nodeId: startId, message: `node "${startId}" has role ${start.role}, not start; start nodes are: ${this.graph.starts.join(", ")}` });
    }
    let sealed: JsonValue;
    try {
      sealed = input === undefined ? null : sealJson(input);
    } catch (err) {
      throw new EngineError({ code: "INPUT_NOT_JSON", message: `run() input must be JSON data: ${(err as NotJsonError).message}` });
    }
    const runId = `run-${this.idPrefix}-${++this.runCounter}`;
    const now = isoNow();
    const row: StoredRun = {
      runId,
      rootTaskId: this.services.newTaskId(),
      input: sealed,
      startNode: start.id,
      startedAt: now,
      updatedAt: now,
      status: "running",
      pending: [],
      projectId: this.memory?.projectId,
      ...(this.store.durable ? { config: this.fingerprint } : {}),
    };
    // The in-memory store answers synchronously: no await (and no microtask) for it.
    const created = this.store.createRun(row);
    if (created !== undefined) await created;
    const acquired = this.store.acquire(runId, this.owner, LEASE_MS);
    if (!(acquired === true || (acquired !== false && (await acquired)))) {
      throw new EngineError({ code: "RUN_IN_PROGRESS", message: `run "${runId}" is leased by another process` });
    }
    return this.execute(row, undefined, options.signal);
  }

  /**
   * Continues a run: one that waits for an answer (`status: "interrupted"`), or, with a durable
   * store, one whose process died (`status: "running"` and no live lease). For an interrupt,
   * the answered node runs (`interrupt: before`, `ctx.interrupt()`: the handler sees the
   * answer), or its output is kept, replaced or rejected (`interrupt: after`:
   * `{ approve: true }`, `{ output }`, `{ approve: false, reason }`). Nothing already committed
   * runs again and no event is emitted twice; other interrupts keep waiting.
   *
   * The run continues only on the configuration it started with (workflow.yaml, agents.yaml,
   * tools.yaml, memory.yaml, schemas/; not plugins or handler code): otherwise
   * `RESUME_CONFIG_CHANGED` names the files that changed, unless `allowConfigChange` is set.
   *
   * @throws {@link EngineError} `RUN_NOT_FOUND`, `RUN_FINISHED`, `RUN_IN_PROGRESS`, `RESUME_CONFIG_CHANGED`, `RESUME_DIVERGED`, `ANSWER_REQUIRED`, `INTERRUPT_UNKNOWN`, `INPUT_NOT_JSON`.
   */
  async resume(runId: string, options: ResumeOptions = {}): Promise<RunResult> {
    if (this.closed) throw new EngineError({ code: "ENGINE_SHUT_DOWN", message: "this engine was shut down; create a new one with Engine.fromConfigDir()" });
    const loaded = await this.store.load(runId);
    if (loaded === undefined) throw new EngineError({ code: "RUN_NOT_FOUND", message: `no run "${runId}" in the run store (see engine.listRuns())` });
    const row = loaded.run;
    if (row.status !== "running" && row.status !== "interrupted") {
      throw new EngineError({ code: "RUN_FINISHED", message: `run "${runId}" already ended with status ${row.status}; nothing to resume` });
    }
    if (row.status === "running" && !this.store.durable) {
      throw new EngineError({ code: "RUN_IN_PROGRESS", message: `run "${runId}" is running; it can be resumed once it is interrupted` });
    }
    if (row.config !== undefined && options.allowConfigChange !== true) {
      const changes = configChanges(row.config, this.fingerprint);
      if (changes.length > 0) {
        throw new EngineError({
          code: "RESUME_CONFIG_CHANGED",
          message: `run "${runId}" started on another configuration than ${this.config.dir} has now (${changes.join(", ")}); it is left as it was`,
          hint: "resume it with the files it started with, or pass allowConfigChange: true (CLI: --allow-config-change) to continue on the new ones (what already ran is kept; a configuration that does not reproduce it fails with RESUME_DIVERGED)",
        });
      }
    }
    const answers: Answer[] = [];
    if (row.status === "interrupted") {
      if (!("answer" in options) || options.answer === undefined) {
        throw new EngineError({ code: "ANSWER_REQUIRED", message: `run "${runId}" waits for an answer to interrupt ${row.pending[0]?.id ?? "?"}; pass { answer }` });
      }
      const target = options.interruptId ?? row.pending[0]?.id;
      if (target === undefined || !row.pending.some((p) => p.id === target)) {
        throw new EngineError({ code: "INTERRUPT_UNKNOWN", message: `run "${runId}" has no interrupt "${String(target)}" waiting; waiting: ${row.pending.map((p) => p.id).join(", ") || "none"}` });
      }
      let answer: JsonValue;
      try {
        answer = sealJson(options.answer);
      } catch (err) {
        throw new EngineError({ code: "INPUT_NOT_JSON", message: `the answer must be JSON data: ${(err as NotJsonError).message}` });
      }
      answers.push({ interruptId: target, answer });
    } else if (options.answer !== undefined) {
      throw new EngineError({ code: "INTERRUPT_UNKNOWN", message: `run "${runId}" waits for no answer (it was cut short, not interrupted); resume it without one` });
    }
    if (!this.graph.nodes.has(row.startNode)) {
      throw new EngineError({ code: "RESUME_DIVERGED", message: `run "${runId}" started at node "${row.startNode}", which this workflow no longer has` });
    }
    if (!(await this.store.acquire(runId, this.owner, LEASE_MS))) {
      throw new EngineError({ code: "RUN_IN_PROGRESS", message: `run "${runId}" is being continued by another process (its lease is held); try again when it is released or expired` });
    }
    const base = this.store.durable ? checkpointOf(loaded, []) : this.suspended.get(runId);
    if (base === undefined) {
      await this.store.release(runId, this.owner);
      throw new EngineError({ code: "RUN_IN_PROGRESS", message: `run "${runId}" has no checkpoint in this process` });
    }
    await this.store.update(runId, { status: "running", pending: [], updatedAt: new Date().toISOString() });
    return this.execute(row, { ...base, answers: [...base.answers, ...answers] }, options.signal);
  }

  /** The fingerprint of this engine's configuration. */
  private get fingerprint(): ConfigFingerprint {
    return (this.fingerprintCache ??= configFingerprint(this.config));
  }

  /**
   * Runs in the store, newest first: id, status, start and last update, and the interrupts a
   * suspended run waits for (`currentNodes`: the nodes they wait at).
   */
  async listRuns(filter: { readonly status?: RunSummary["status"]; readonly limit?: number } = {}): Promise<readonly RunSummary[]> {
    const rows = await this.store.list(filter);
    return Object.freeze(
      rows.map((r) => Object.freeze({ id: r.runId, status: r.status, startedAt: r.startedAt, updatedAt: r.updatedAt, currentNodes: Object.freeze(r.pending.map((p) => p.nodeId)), interrupts: Object.freeze(r.pending.slice()) })),
    );
  }

  private async execute(row: StoredRun, checkpoint: RunCheckpoint | undefined, signal: AbortSignal | undefined): Promise<RunResult> {
    const start = this.graph.nodes.get(row.startNode)!;
    const store = this.store;
    const runId = row.runId;
    // Agent runs add token and cost totals to the result: the calls made now, and those of the
    // stages committed before (replayed from the journal, not called again), so a resumed run
    // reports the same totals as an uninterrupted one.
    const usage = new UsageTotals();
    if (checkpoint !== undefined && this.hasAgents) for (const [key, outcome] of checkpoint.outcomes) usage.addRecorded(key, outcome.events);
    const services: RunServices = this.hasAgents ? { ...this.services, callAgent: (node, inp, context, scope, resume) => this.callAgent(node, inp, context, scope, resume, usage) } : this.services;
    const run = new Run(services, signal, {
      runId,
      rootTaskId: row.rootTaskId,
      scheduling: this.scheduling,
      ...(checkpoint ? { checkpoint } : {}),
      ...(store.durable ? { journal: { append: (record) => store.append(runId, record) } } : {}),
      ...(this.memory !== undefined
        ? { memory: { plan: this.memory, backend: this.memory.hasShared ? (store as MemoryBackend) : undefined, projectId: row.projectId ?? this.memory.projectId } }
        : {}),
    });
    // shutdown() lets in-flight runs finish (bounded) and reports those it could not wait for.
    const release = this.registry.hold();
    // The lease is renewed while the run goes on, so another process can take it over only once
    // this one is gone (or stuck past the lease time).
    const renew = store.durable
      ? setInterval(() => {
          Promise.resolve(store.acquire(runId, this.owner, LEASE_MS)).catch(() => undefined);
        }, LEASE_MS / 3)
      : undefined;
    renew?.unref();
    try {
      let executed: RunResult;
      try {
        executed = await run.execute(row.input, start);
      } catch (err) {
        if (!(err instanceof JournalError)) throw err;
        // The configuration or handlers no longer reproduce what the run recorded: nothing new
        // was journaled, so the run is put back as it was, to be resumed with what it ran on.
        await store.update(runId, { status: row.status, pending: row.pending, updatedAt: isoNow() });
        throw new EngineError({
          code: "RESUME_DIVERGED",
          message: `${err.message}; run "${runId}" is left as it was`,
          hint: "resume it with the configuration it ran on (without allowConfigChange / --allow-config-change)",
        });
      }
      const totals = usage.totals();
      const result: RunResult = totals === undefined ? executed : Object.freeze({ ...executed, usage: totals });
      const updatedAt = isoNow();
      if (result.status === "interrupted") {
        if (!store.durable) this.suspended.set(runId, run.suspendedCheckpoint(row.input, row.startNode));
        await store.update(runId, { status: "interrupted", pending: result.interrupts ?? [], updatedAt });
      } else {
        if (this.suspended.size > 0) this.suspended.delete(runId);
        const updated = store.update(runId, store.durable ? { status: result.status, pending: NO_PENDING, updatedAt, result: result as unknown as JsonValue } : { status: result.status, pending: NO_PENDING, updatedAt });
        if (updated !== undefined) await updated;
      }
      return result;
    } finally {
      if (renew !== undefined) clearInterval(renew);
      release();
      const released = store.release(runId, this.owner);
      if (released !== undefined) await released;
    }
  }

  private callAgent(node: GraphNode, input: JsonValue, context: JsonValue, scope: StageScope, resume: JsonValue | undefined, usage: UsageTotals | undefined): Promise<JsonValue> {
    return this.agents
      .run(node.agent!, input, context, scope, {
        ...(node.role === "decision" ? { labels: decisionLabels(node.outEdges) } : {}),
        nodeTools: node.tools,
        callTool: (toolId, args, s) => this.toolCaller(toolId, args, s),
        ...(usage ? { usage } : {}),
        ...(resume === undefined ? {} : { resume }),
      })
      .catch(asStageError);
  }

  /**
   * Retained events in `seq` order, optionally filtered by type (exact or glob like `node.*`),
   * task id and node id. The array and every event are frozen.
   */
  getEvents(filter?: EventFilter): readonly EngineEvent[] {
    return this.bus.getEvents(filter);
  }

  /** Events dropped from retention because of `maxEvents`. */
  get droppedEvents(): number {
    return this.bus.droppedEvents;
  }

  /** The plugin registry (register, unregister, stats...). */
  getPluginRegistry(): PluginRegistry {
    return this.registry;
  }

  /**
   * Closes every MCP server (stdio server processes end),
   * waits for pending plugin deliveries (up to `shutdownTimeoutMs`), then calls every plugin's
   * `onShutdown`, and reports what did not finish. The engine accepts no runs afterwards.
   * Calling it again returns the same kind of report with no plugins.
   */
  async shutdown(timeoutMs: number = this.shutdownTimeoutMs): Promise<EngineShutdownReport> {
    this.closed = true;
    await this.tools.close();
    const report = await this.registry.shutdown(timeoutMs);
    // After runs in flight had their time (registry.shutdown): a handler still running in a
    // worker is stopped (its stage fails ABORTED), and every worker thread has exited.
    await this.workers.close();
    await this.store.close();
    return report;
  }
}

/**
 * Imports the handler of every deterministic node (all problems at once); used by `agent-engine
 * validate` too. A node with `isolation: worker` gets a handler that runs in `workers` (its module
 * imported and its export checked in a worker, never in this thread); the caller closes `workers`.
 */
export async function resolveHandlers(graph: WorkflowGraph, config: ProjectConfig, provided: Readonly<Record<string, NodeHandler>>, allow: LoadPolicy | undefined, workers: HandlerWorkers): Promise<Map<string, NodeHandler>> {
  const map = new Map<string, NodeHandler>();
  const problems: ErrorDetail[] = [];
  let cause: unknown; // the first import failure, for AGENT_ENGINE_DEBUG stacks
  const file = config.files.workflow;
  for (const [id, fn] of Object.entries(provided)) {
    const node = graph.nodes.get(id);
    if (!node) {
      problems.push({ code: "HANDLER_NOT_FOUND", nodeId: id, message: `options.handlers has "${id}", but the workflow has no such node (nodes: ${graph.nodeList.map((n) => n.id).join(", ")})` });
    } else if (node.kind === "agent") {
      problems.push({ code: "HANDLER_NOT_FOUND", nodeId: id, message: `node "${id}" is an agent node; agent nodes call their agent and take no handler` });
    } else if (typeof fn !== "function") {
      problems.push({ code: "HANDLER_NOT_FOUND", nodeId: id, message: `options.handlers["${id}"] must be a function, got ${typeof fn}` });
    } else if (node.isolation === "worker") {
      problems.push({
        code: "INVALID_OPTION",
        nodeId: id,
        path: `handlers.${id}`,
        message: `node "${id}" has isolation: worker in workflow.yaml, but options.handlers gives it a function, which cannot run in a worker thread`,
        hint: "remove the override (the node's handler module runs in the worker), or remove isolation: worker from the node",
      });
    } else map.set(id, fn);
  }
  await Promise.all(
    graph.nodeList.map(async (node: GraphNode) => {
      if (!node.handler || map.has(node.id) || node.kind === "agent") return;
      const path = `/nodes/${node.index}/handler`;
      const loc = config.locate("workflow", path);
      try {
        if (node.isolation === "worker") {
          map.set(node.id, await workerHandler(node, config, path, allow, workers));
          return;
        }
        const fn = await loadExport(node.handler, config.dir, { file, path, nodeId: node.id, what: `handler of node "${node.id}"`, ...(allow ? { allow } : {}) });
        if (typeof fn !== "function") {
          problems.push({ code: "HANDLER_LOAD_FAILED", file, path, nodeId: node.id, ...(loc ? { line: loc.line, column: loc.column } : {}), message: `handler "${node.handler}" of node "${node.id}" is ${typeof fn}, not a function` });
        } else map.set(node.id, fn as NodeHandler);
      } catch (err) {
        if (!(err instanceof EngineError)) throw err;
        problems.push(...err.details.map((d) => ({ ...d, ...(loc ? { line: loc.line, column: loc.column } : {}) })));
        cause ??= err.cause;
      }
    }),
  );
  if (problems.length > 0) throw new EngineError(problems, cause === undefined ? undefined : { cause });
  return map;
}

/**
 * The handler of an `isolation: worker` node: the module is resolved and checked against the
 * load policy here, imported in a worker of its pool (kept warm for the first call), and its
 * export checked from there; problems are the same `HANDLER_LOAD_FAILED` details as inline.
 */
async function workerHandler(node: GraphNode, config: ProjectConfig, path: string, allow: LoadPolicy | undefined, workers: HandlerWorkers): Promise<NodeHandler> {
  const file = config.files.workflow;
  const what = `handler of node "${node.id}"`;
  const { specifier, exportName, url } = resolveExport(node.handler!, config.dir, { file, path, nodeId: node.id, what, ...(allow ? { allow } : {}) });
  const pool = workers.pool(url, specifier, node.worker!);
  let exports: Readonly<Record<string, string>>;
  try {
    exports = await pool.exports();
  } catch (err) {
    const p = err instanceof HandlerLoadProblem ? err : new HandlerLoadProblem(errorMessage(err));
    throw new EngineError({ code: "HANDLER_LOAD_FAILED", file, path, nodeId: node.id, message: p.threw ? importFailedMessage(specifier, what, p.message) : `importing "${specifier}" for the ${what} in a worker thread failed: ${p.message}`, ...(p.hint === undefined ? {} : { hint: p.hint }) });
  }
  if (!Object.hasOwn(exports, exportName)) {
    throw new EngineError({ code: "HANDLER_LOAD_FAILED", file, path, nodeId: node.id, message: missingExportMessage(specifier, exportName, what, Object.keys(exports)), hint: MISSING_EXPORT_HINT });
  }
  if (exports[exportName] !== "function") {
    throw new EngineError({ code: "HANDLER_LOAD_FAILED", file, path, nodeId: node.id, message: `handler "${node.handler!}" of node "${node.id}" is ${exports[exportName]}, not a function` });
  }
  return pool.handler(exportName);
}

/** A tool's argument schema; `loadProject` has already checked the stem exists and compiles. */
export function compileToolSchema(config: ProjectConfig, schema: unknown): CompiledSchema | undefined {
  if (typeof schema === "string") return compileSchema(schema, config.schemas.get(schema));
  if (schema && typeof schema === "object") return compileSchema("inline", schema);
  return undefined;
}


/** Re-throws an error of the agent runner or tool registry with its engine code as a {@link StageError}. */
function asStageError(err: unknown): never {
  if (isInstance(err, EngineError)) throw err;
  const code = readSafely(err, "code");
  if (typeof code === "string" && /^[A-Z][A-Z0-9_]+$/.test(code) && !/^E[A-Z]+$/.test(code)) throw new StageError(code as ErrorCode, errorMessage(err), { cause: err });
  throw err;
}

/** Opens `EngineOptions.store`: "memory", a store URL (drivers loaded only then), or a RunStore. */
async function openRunStore(store: string | RunStore | undefined): Promise<RunStore> {
  if (store === undefined || store === "memory") return new MemoryRunStore();
  if (typeof store === "string") {
    const { openEngineStore } = await import("../store/index.js");
    return openEngineStore(store);
  }
  if (typeof store !== "object" || store === null || typeof (store as RunStore).append !== "function") {
    throw new EngineError({ code: "INVALID_OPTION", path: "store", message: `store must be "memory", "sqlite:<path>", "postgres://..." or a RunStore, got ${String(store)}` });
  }
  return store;
}
