import { accessSync, constants } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";

/** The absolute path of a program (conmon needs one for the runtime), looked up in PATH. */
export function resolveBinary(name: string): string {
  if (isAbsolute(name)) return name;
  const dirs = (process.env.PATH ?? "")
    .split(delimiter)
    .concat(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]);
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return name;
}
