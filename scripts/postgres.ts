// The embedded Postgres cluster used when DATABASE_URL is unset: the machine's own server binaries,
// run as the `postgres` user, data under .berth/postgres, listening on a free loopback port only.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import pg from "pg";

export interface PostgresHandle {
  /** Connection URL of the cluster's superuser to the `postgres` database. */
  adminUrl: string;
  urlFor(database: string): string;
  stop(): Promise<void>;
}

export function binDir(): string {
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, "bin", "initdb"))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error("no PostgreSQL server binaries under /usr/lib/postgresql (npm start installs the postgresql package)");
  return join(base, versions[0], "bin");
}

export function postgresUser(): { uid: number; gid: number } {
  const r = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const g = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (r.status !== 0 || g.status !== 0) throw new Error("the 'postgres' system user is missing (it comes with the postgresql package)");
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

export async function freeLoopbackPort(preferred?: number): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number | null>((resolve) => {
      const srv = createServer();
      srv.once("error", () => resolve(null));
      srv.listen(port, "127.0.0.1", () => {
        const addr = srv.address();
        const got = typeof addr === "object" && addr ? addr.port : null;
        srv.close(() => resolve(got));
      });
    });
  if (preferred) {
    const p = await tryPort(preferred);
    if (p) return p;
  }
  const p = await tryPort(0);
  if (!p) throw new Error("no free loopback port");
  return p;
}

function runAs(user: { uid: number; gid: number }, cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { uid: user.uid, gid: user.gid, encoding: "utf8", cwd: "/" });
  if (r.status !== 0) throw new Error(`${cmd} ${args[0] ?? ""} failed: ${r.stderr || r.stdout}`);
}

/**
 * Starts (creating on first use) a cluster in `dir`. Its superuser is `berth` with a random
 * password kept 0600 beside the data. Safe to call when the cluster already runs from a crashed
 * run: pg_ctl refuses a second postmaster and we reuse the recorded port.
 */
export async function startEmbeddedPostgres(dir: string): Promise<PostgresHandle> {
  const bin = binDir();
  const isRoot = process.getuid?.() === 0;
  const user = isRoot ? postgresUser() : { uid: process.getuid!(), gid: process.getgid!() };
  const data = join(dir, "data");
  const pwFile = join(dir, "password");
  const portFile = join(dir, "port");
  // The parent only needs to be traversable by the postgres user; the cluster dir itself is private.
  mkdirSync(join(dir, ".."), { recursive: true, mode: 0o711 });
  chmodSync(join(dir, ".."), 0o711);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chownSync(dir, user.uid, user.gid);

  if (!existsSync(join(data, "PG_VERSION"))) {
    const password = randomBytes(18).toString("hex");
    writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
    chownSync(pwFile, user.uid, user.gid);
    runAs(user, join(bin, "initdb"), [
      "-D",
      data,
      "-U",
      "berth",
      "--pwfile",
      pwFile,
      "--auth-host=scram-sha-256",
      "--auth-local=peer",
      "-E",
      "UTF8",
      "--locale=C.UTF-8",
    ]);
  }
  const password = readFileSync(pwFile, "utf8").trim();
  const recorded = existsSync(portFile) ? Number(readFileSync(portFile, "utf8")) : undefined;

  const status = spawnSync(join(bin, "pg_ctl"), ["status", "-D", data], { uid: user.uid, gid: user.gid, cwd: "/" });
  let port: number;
  // Another run (a test run beside this one, or one that crashed) may be using it: only a run that
  // started the cluster stops it.
  let startedHere = false;
  if (status.status === 0 && recorded) {
    port = recorded; // still running from an earlier run
  } else {
    startedHere = true;
    port = await freeLoopbackPort(recorded);
    writeFileSync(portFile, String(port));
    chownSync(portFile, user.uid, user.gid);
    const opts = `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${data} -c max_connections=200 -c fsync=on`;
    runAs(user, join(bin, "pg_ctl"), ["start", "-w", "-t", "60", "-D", data, "-l", join(dir, "postgres.log"), "-o", opts]);
  }
  const urlFor = (db: string) => `postgresql://berth:${password}@127.0.0.1:${port}/${db}`;
  return {
    adminUrl: urlFor("postgres"),
    urlFor,
    async stop() {
      if (!startedHere) return;
      spawnSync(join(bin, "pg_ctl"), ["stop", "-m", "fast", "-w", "-D", data], { uid: user.uid, gid: user.gid, cwd: "/", stdio: "ignore" });
    },
  };
}

/** Creates `name` if it does not exist (optionally as a copy of `template`). */
export async function ensureDatabase(adminUrl: string, name: string, template?: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const r = await client.query("select 1 from pg_database where datname = $1", [name]);
    if (r.rowCount === 0) {
      // Identifiers cannot be bound parameters; `name` and `template` are checked against a strict pattern.
      if (template && !/^[a-z_][a-z0-9_]*$/.test(template)) throw new Error(`bad template name ${template}`);
      await client.query(`create database ${name}${template ? ` template ${template}` : ""}`);
    }
  } finally {
    await client.end();
  }
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`drop database if exists ${name} with (force)`);
  } finally {
    await client.end();
  }
}
