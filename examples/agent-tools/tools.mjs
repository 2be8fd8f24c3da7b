const ORDERS = { "A-1001": { status: "shipped", eta: "2026-12-03" }, "A-1002": { status: "processing", eta: null } };

/** Tool `orders.lookup`: `{ order_id }` -> `{ order_id, status, eta }`. */
export function lookupOrder(args) {
  const order = ORDERS[args.order_id];
  if (!order) throw new Error(`no order ${args.order_id}`);
  return { order_id: args.order_id, ...order };
}
