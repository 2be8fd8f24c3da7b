/**
 * A cheap ISO-8601 clock: formatting a Date costs far more than reading the time, and the
 * engine stamps several records per node, so the string is reused within the same millisecond.
 *
 * @module
 */

let lastMs = -1;
let lastIso = "";

/** The current time as an ISO-8601 string (millisecond precision). */
export function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}
