"use client";
import { useMemo } from "react";
import { ComposeError, formatProblem, loadCompose } from "@berth/core/compose";

/** The problems of a compose file as the server's reader sees them (the same module), or none. */
export function composeProblems(text: string, envNames: readonly string[], files: Record<string, string> = {}): string[] {
  // Values are not known here (they never come back from the server): names stand for them, so a
  // `${VAR:?}` is satisfied by a name the stack has.
  const env = Object.fromEntries(envNames.map((n) => [n, "x"]));
  try {
    loadCompose([{ name: "compose.yaml", text }], { env, files, ...(files[".env"] !== undefined ? { dotEnv: files[".env"] } : {}) });
    return [];
  } catch (e) {
    if (e instanceof ComposeError) return e.problems.map(formatProblem);
    return [e instanceof Error ? e.message : String(e)];
  }
}

/** A compose file's text, checked as it is typed by the server's own reader and schema. */
export function ComposeEditor({
  value,
  onChange,
  envNames,
  files,
}: {
  value: string;
  onChange(v: string): void;
  envNames: readonly string[];
  files?: Record<string, string>;
}) {
  const problems = useMemo(() => composeProblems(value, envNames, files), [value, envNames, files]);
  return (
    <div className="space-y-1">
      <textarea
        aria-label="Compose file"
        spellCheck={false}
        className="h-72 w-full rounded-md border border-slate-300 px-3 py-2 font-mono text-xs"
        value={value}
        onChange={(e) => onChange(e.target.value)}
      />
      {problems.length === 0 ? (
        <p className="text-xs text-emerald-700" data-testid="compose-valid">
          Valid compose file
        </p>
      ) : (
        <ul className="max-h-32 overflow-auto text-xs text-red-700" data-testid="compose-problems">
          {problems.map((p) => (
            <li key={p} className="font-mono">
              {p}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** KEY=value lines into a map (blank lines and # comments skipped); bad lines are named. */
export function parseEnvLines(text: string): { env: Record<string, string>; bad: string[] } {
  const env: Record<string, string> = {};
  const bad: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const at = line.indexOf("=");
    const key = at > 0 ? line.slice(0, at).trim() : "";
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) bad.push(line);
    else env[key] = line.slice(at + 1);
  }
  return { env, bad };
}
