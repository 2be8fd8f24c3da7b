// Tool implementations of the support-triage example.

/** Pretends to page on-call; deterministic so runs can be compared. */
export function pager(args, ctx) {
  return { incident: `INC-${ctx.config.rotation}-${args.ticket.slice(-4)}`, paged: true };
}
