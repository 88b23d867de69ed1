import { run, ProgramError } from "./exec.ts";

/*
 * Extended attributes through the Debian `attr` package (setfattr/getfattr): Node has no xattr API.
 * Values always travel hex-encoded so binary values (security.capability) survive, and -h keeps
 * symlinks from being followed.
 */

const SETFATTR = "setfattr";
const GETFATTR = "getfattr";

export async function setXattr(path: string, name: string, value: Buffer): Promise<void> {
  await run(SETFATTR, ["-h", "-n", name, "-v", `0x${value.toString("hex")}`, "--", path]);
}

/** The attribute's value, or undefined when the file does not have it. */
export async function getXattr(path: string, name: string): Promise<Buffer | undefined> {
  try {
    const out = await run(GETFATTR, ["-h", "--absolute-names", "-e", "hex", "-n", name, "--", path]);
    return parseDump(out).get(path)?.get(name);
  } catch (err) {
    if (err instanceof ProgramError && /No such attribute|No data available/i.test(err.stderr)) return undefined;
    throw err;
  }
}

/**
 * Every file under `root` (not following symlinks) carrying an attribute whose name matches
 * `pattern` (a getfattr -m regex), as absolute path → (name → value). One process for the whole tree.
 */
export async function findXattrs(root: string, pattern: string): Promise<Map<string, Map<string, Buffer>>> {
  const out = await run(GETFATTR, ["-R", "-P", "-h", "--absolute-names", "-e", "hex", "-d", "-m", pattern, "--", root]);
  return parseDump(out);
}

/** Parses getfattr's dump format: "# file: <escaped path>" then "name=0xHEX" lines. */
function parseDump(out: string): Map<string, Map<string, Buffer>> {
  const result = new Map<string, Map<string, Buffer>>();
  let current: Map<string, Buffer> | undefined;
  for (const line of out.split("\n")) {
    if (line.startsWith("# file: ")) {
      current = new Map();
      result.set(unescapeName(line.slice("# file: ".length)), current);
      continue;
    }
    const eq = line.indexOf("=");
    if (!current || eq <= 0) continue;
    const name = line.slice(0, eq);
    const raw = line.slice(eq + 1);
    current.set(name, raw.startsWith("0x") ? Buffer.from(raw.slice(2), "hex") : Buffer.from(raw.replace(/^"|"$/g, "")));
  }
  return result;
}

/** getfattr writes unprintable bytes, backslashes and the like in file names as \ooo octal escapes. */
function unescapeName(s: string): string {
  const bytes: number[] = [];
  const raw = Buffer.from(s, "utf8");
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b === 0x5c && i + 3 < raw.length && /^[0-7]{3}$/.test(raw.subarray(i + 1, i + 4).toString("latin1"))) {
      bytes.push(parseInt(raw.subarray(i + 1, i + 4).toString("latin1"), 8));
      i += 3;
    } else {
      bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}
