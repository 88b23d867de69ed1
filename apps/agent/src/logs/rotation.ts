import { existsSync, linkSync, renameSync, rmSync, statSync, watch, type FSWatcher, type Stats } from "node:fs";
import { basename, dirname } from "node:path";
import { CONMON_CTL, sendConmonControl } from "../runtime/index.ts";
import { AgentError } from "../errors.ts";

/*
 * Log rotation by max-size and max-file, driven by the agent.
 *
 * conmon's own `--log-size-max` replaces the file with an empty one, losing what it held, so it is
 * not used. Instead the agent watches the size and rotates as Docker's json-file does (`<log>.1`
 * … `<log>.<max-file - 1>`, newest first). A file can pass max-size by what conmon writes while a
 * rotation is under way. While the agent is down nothing rotates; the file is rotated when the
 * agent is back.
 */

export interface LogRotation {
  /** Bytes per file. */
  maxSize: number;
  /** Files kept, the live one included. */
  maxFiles: number;
}

export class LogConfigError extends AgentError {
  override name = "LogConfigError";
  constructor(message: string) {
    super(message, "INVALID");
  }
}

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

/** Docker's size syntax for log options (binary units): `10m`, `512k`, `1g`, `4096`. */
export function parseLogSize(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?b?)\s*$/i.exec(value);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new LogConfigError(`invalid size: '${value}'`);
  return Math.floor(Number(m[1]) * unit);
}

/** Drivers Berth keeps logs for (none keeps nothing); dockerd's other drivers ship logs elsewhere. */
const SUPPORTED_DRIVERS = ["json-file", "local", "k8s-file", "none"];
const DOCKER_DRIVERS = ["syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs", "logentries"];

/** Refuses a log driver Berth does not have: Docker's own message for names no Docker knows. */
export function checkLogDriver(type: string): void {
  if (SUPPORTED_DRIVERS.includes(type)) return;
  if (DOCKER_DRIVERS.includes(type))
    throw new LogConfigError(`log driver ${type} is not supported by Berth: use ${SUPPORTED_DRIVERS.join(", ")}`);
  throw new LogConfigError(`logger: no log driver named '${type}' is registered`);
}

/**
 * The rotation a container's LogConfig asks for, or null for an unbounded log. Docker's defaults:
 * json-file keeps one unbounded file; `local` keeps 5 files of 20 MiB.
 */
export function logRotationOf(config: { Type?: string; Config?: Record<string, string> | null } | undefined): LogRotation | null {
  const type = config?.Type || "json-file";
  const opts = config?.Config ?? {};
  checkLogDriver(type);
  if (type === "none") {
    if (Object.keys(opts).length) throw new LogConfigError(`unknown log opt '${Object.keys(opts)[0]}' for none log driver`);
    return null;
  }
  for (const key of Object.keys(opts)) {
    if (!["max-size", "max-file", "compress", "mode", "max-buffer-size", "labels", "env", "tag"].includes(key))
      throw new LogConfigError(`unknown log opt '${key}' for ${type} log driver`);
  }
  if (opts.compress === "true") throw new LogConfigError("log opt 'compress' is not supported: rotated files are kept uncompressed");
  const local = type === "local";
  const maxSize = opts["max-size"] !== undefined ? parseLogSize(opts["max-size"]) : local ? 20 * 1024 ** 2 : 0;
  let maxFiles = local ? 5 : 1;
  if (opts["max-file"] !== undefined) {
    if (!/^\d+$/.test(opts["max-file"])) throw new LogConfigError(`invalid value for max-file: '${opts["max-file"]}'`);
    maxFiles = Number(opts["max-file"]);
    if (maxFiles < 1) throw new LogConfigError("max-file cannot be less than 1");
  }
  // max-file without max-size has nothing to rotate; 20.10's json-file accepts it, and so does Berth.
  if (maxSize === 0) return null;
  // conmon writes whole records; a limit below one record would start a file per line.
  if (maxSize < 4096) throw new LogConfigError("max-size must be at least 4k");
  if (maxFiles > 100) throw new LogConfigError("max-file cannot be more than 100");
  return { maxSize, maxFiles };
}

/**
 * Rotates one container's log while conmon writes it. When the file reaches max-size the keeper
 * shifts the older files up, hard-links the live file as `<log>.1` and asks conmon (through its
 * `ctl` FIFO) to reopen: conmon then starts a fresh file under the log's name. Everything written
 * before the reopen lands in the linked file, so no line is lost.
 */
export class LogKeeper {
  private watcher: FSWatcher | undefined;
  /** Inode of the file conmon has been asked to replace; 0 when no rotation is under way. */
  private rotating = 0;

  constructor(
    private readonly path: string,
    private readonly ctlFifo: string,
    private readonly rotation: LogRotation,
  ) {}

  start(): void {
    this.resumePending();
    const name = basename(this.path);
    this.watcher = watch(dirname(this.path), (_event, file) => {
      if (file === name) this.check();
    });
    this.watcher.on("error", () => this.stop());
    this.check();
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  /**
   * conmon has exited: a rotation it never served is undone, and a file that reached max-size
   * before the keeper could act (a short burst) is rotated now; with conmon gone a rename does it.
   */
  finish(): void {
    this.stop();
    // A rotation conmon never served: the content is under `<log>.1` already, drop the live name.
    const live = inodeOf(this.path);
    if (live !== 0 && inodeOf(`${this.path}.1`) === live) rmSync(this.path, { force: true });
    this.rotating = 0;
    let size = 0;
    try {
      size = statSync(this.path).size;
    } catch {
      return;
    }
    if (size < this.rotation.maxSize) return;
    this.shift();
    if (this.rotation.maxFiles > 1) renameSync(this.path, `${this.path}.1`);
    else rmSync(this.path, { force: true });
  }

  /** Makes room for a new `<log>.1`: each rotated file moves up one, the oldest beyond max-file goes. */
  private shift(): void {
    for (let i = this.rotation.maxFiles - 1; i >= 1; i--) {
      const from = `${this.path}.${i}`;
      if (!existsSync(from)) continue;
      if (i + 1 >= this.rotation.maxFiles) rmSync(from, { force: true });
      else renameSync(from, `${this.path}.${i + 1}`);
    }
  }

  /** Rotates when the live file has reached max-size. Cheap when it has not: one stat. */
  check(): void {
    let st: Stats;
    try {
      st = statSync(this.path);
    } catch {
      return;
    }
    if (this.rotating !== 0) {
      if (st.ino === this.rotating) return; // conmon has not reopened yet
      this.rotating = 0;
    }
    if (st.size < this.rotation.maxSize) return;
    if (this.rotation.maxFiles > 1) {
      this.shift();
      linkSync(this.path, `${this.path}.1`);
    }
    this.reopen(st.ino);
  }

  /** Asks conmon for a new file; with conmon gone (the container is exiting), the rotation is finished by dropping the live name. */
  private reopen(ino: number): void {
    if (sendConmonControl(this.ctlFifo, CONMON_CTL.reopenLogs)) this.rotating = ino;
    else if (this.rotation.maxFiles > 1) rmSync(this.path, { force: true });
  }

  /** A `<log>.1` that is the live file itself is a rotation requested before the agent restarted: ask again. */
  private resumePending(): void {
    const live = inodeOf(this.path);
    if (live !== 0 && inodeOf(`${this.path}.1`) === live) this.reopen(live);
  }
}

function inodeOf(path: string): number {
  try {
    return statSync(path).ino;
  } catch {
    return 0;
  }
}
