/**
 * A conservative check that a regular expression cannot backtrack catastrophically, for
 * user-supplied patterns (scripted LLM rules). JavaScript's engine backtracks; a pattern such as
 * `(a+)+$` takes exponential time on `aaaa...b`. We refuse the constructs behind that:
 * a quantified group that itself contains a quantifier or an alternation (`(a+)+`, `(a|ab)*`),
 * backreferences and lookarounds. What is left runs in polynomial time in the input length.
 *
 * @module
 */

/** Why `pattern` is refused, or `undefined` when it is safe. */
export function unsafeRegexReason(pattern: string): string | undefined {
  // One frame per open group: did it contain a quantifier or a `|`?
  const stack: { risky: boolean }[] = [{ risky: false }];
  let lastClosedRisky = false; // the atom just before this position was a risky group
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === "\\") {
      const n = pattern[i + 1] ?? "";
      if (/[1-9]/.test(n) || n === "k") return "backreferences are not allowed";
      i += 2;
      lastClosedRisky = false;
      continue;
    }
    if (c === "[") {
      // Character class: skip to the closing bracket (escapes inside honoured).
      i++;
      if (pattern[i] === "^") i++;
      if (pattern[i] === "]") i++;
      while (i < pattern.length && pattern[i] !== "]") i += pattern[i] === "\\" ? 2 : 1;
      i++;
      lastClosedRisky = false;
      continue;
    }
    if (c === "(") {
      if (pattern.startsWith("(?=", i) || pattern.startsWith("(?!", i) || pattern.startsWith("(?<=", i) || pattern.startsWith("(?<!", i)) return "lookarounds are not allowed";
      stack.push({ risky: false });
      if (pattern.startsWith("(?:", i)) i += 3;
      else if (pattern.startsWith("(?<", i)) {
        const end = pattern.indexOf(">", i);
        i = end < 0 ? pattern.length : end + 1;
      } else i++;
      lastClosedRisky = false;
      continue;
    }
    if (c === ")") {
      const frame = stack.pop();
      if (!frame || stack.length === 0) return "unbalanced parenthesis";
      if (frame.risky) stack[stack.length - 1]!.risky = true;
      lastClosedRisky = frame.risky;
      i++;
      continue;
    }
    if (c === "|") {
      stack[stack.length - 1]!.risky = true;
      lastClosedRisky = false;
      i++;
      continue;
    }
    const quant = /^(?:[*+]|\{\d+(?:,\d*)?\})/.exec(pattern.slice(i));
    if (quant) {
      const q = quant[0];
      const range = /^\{(\d+)(?:(,)(\d*))?\}$/.exec(q);
      // Repeats more than once: `*`, `+`, `{n,}`, `{n,m}` with m > 1, `{n}` with n > 1.
      const unbounded = range === null || (range[2] !== undefined ? range[3] === "" || Number(range[3]) > 1 : Number(range[1]) > 1);
      if (lastClosedRisky && unbounded) return "a repeated group contains a quantifier or an alternation (nested repetition can backtrack exponentially)";
      stack[stack.length - 1]!.risky = true;
      i += quant[0].length;
      if (pattern[i] === "?") i++;
      lastClosedRisky = false;
      continue;
    }
    if (c === "?") {
      i++;
      continue;
    }
    lastClosedRisky = false;
    i++;
  }
  return undefined;
}
