/*
 * Values written into a compose file that Berth writes back from what runs (adopt-host.ts from
 * containers, adopt-fleet.ts from service specs): the reverse of compose/values.ts's readings.
 */

/** A string as compose reads it literally: every `$` doubled. A function, not a string: in a replacement string "$$" stands for one "$". */
export const literal = (s: string) => s.replaceAll("$", () => "$$");

/** Milliseconds as a compose duration: "2s", or "1500ms" when not whole seconds. */
export const msText = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

/** Docker's nanoseconds as a compose duration; none for zero or unset (Docker's "the default"). */
export const nsText = (ns: number | null | undefined) => (ns && ns > 0 ? msText(Math.round(ns / 1e6)) : undefined);

/** A name of the project's (`<project>_<key>`) as its key in the file; null for a name from outside it. */
export const unscoped = (project: string, name: string) => (name.startsWith(`${project}_`) ? name.slice(project.length + 1) : null);

/** KEY=value entries as compose's `environment:` mapping (a bare KEY, passed through from the shell, as null). */
export function environmentOf(entries: readonly string[]): Record<string, string | null> {
  return Object.fromEntries(
    entries.map((e) => {
      const at = e.indexOf("=");
      return at < 0 ? [e, null] : [e.slice(0, at), literal(e.slice(at + 1))];
    }),
  );
}

/** Docker's healthcheck (durations in nanoseconds) as compose's `healthcheck:`; none without a test. */
export function healthcheckOf(
  hc:
    | {
        Test?: readonly string[] | null | undefined;
        Interval?: number | null | undefined;
        Timeout?: number | null | undefined;
        Retries?: number | null | undefined;
        StartPeriod?: number | null | undefined;
      }
    | null
    | undefined,
): Record<string, unknown> | undefined {
  if (!hc?.Test?.length) return undefined;
  if (hc.Test[0] === "NONE") return { disable: true };
  const interval = nsText(hc.Interval);
  const timeout = nsText(hc.Timeout);
  const startPeriod = nsText(hc.StartPeriod);
  return {
    test: hc.Test.map(literal),
    ...(interval ? { interval } : {}),
    ...(timeout ? { timeout } : {}),
    ...(hc.Retries ? { retries: hc.Retries } : {}),
    ...(startPeriod ? { start_period: startPeriod } : {}),
  };
}
