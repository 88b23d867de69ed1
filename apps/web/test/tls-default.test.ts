// TLS by default off loopback: a control plane on a network address with no certificate given
// makes its own once, keeps it in the data dir (same fingerprint on every start), and serves
// HTTPS; plain HTTP there needs an explicit flag and is warned about.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { insecureWarning, loadEnv, prepareTls } from "../src/server/env.ts";
import { loadTlsIdentity } from "../src/server/tls.ts";

const base = { NODE_ENV: "test" as const, DATABASE_URL: "postgresql://x@127.0.0.1/x", BETTER_AUTH_SECRET: "s".repeat(32), PORT: "3443" };

test("off loopback the control plane serves HTTPS with a certificate of its own, kept across restarts", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-tls-"));
  try {
    const env = loadEnv({ ...base, HOST: "10.20.30.40", BERTH_DATA_DIR: dir });
    assert.equal(env.TLS_SELF_SIGNED, true);
    assert.equal(env.PUBLIC_URL, "https://10.20.30.40:3443");
    assert.equal(env.TLS_CERT_FILE, join(dir, "tls/cert.pem"));
    assert.equal(insecureWarning(env), null);
    await prepareTls(env);
    assert.equal(statSync(env.TLS_KEY_FILE!).mode & 0o777, 0o600, "the key is private");
    const first = loadTlsIdentity(env.TLS_CERT_FILE!, env.TLS_KEY_FILE!);
    assert.match(first.fingerprint, /^[0-9a-f]{64}$/);
    await prepareTls(loadEnv({ ...base, HOST: "10.20.30.40", BERTH_DATA_DIR: dir }));
    assert.equal(loadTlsIdentity(env.TLS_CERT_FILE!, env.TLS_KEY_FILE!).fingerprint, first.fingerprint, "made once, then kept");
    // 0.0.0.0 is off loopback too.
    assert.equal(loadEnv({ ...base, HOST: "0.0.0.0", BERTH_DATA_DIR: dir }).TLS_SELF_SIGNED, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  "on loopback plain HTTP; off loopback plain HTTP only with BERTH_INSECURE_HTTP=1, with a warning; " +
    "a mismatched PUBLIC_URL is refused",
  () => {
    const local = loadEnv({ ...base, HOST: "127.0.0.1" });
    assert.deepEqual([local.TLS_SELF_SIGNED, local.PUBLIC_URL, insecureWarning(local)], [false, "http://127.0.0.1:3443", null]);
    const insecure = loadEnv({ ...base, HOST: "10.20.30.40", BERTH_INSECURE_HTTP: "1" });
    assert.deepEqual([insecure.TLS_SELF_SIGNED, insecure.PUBLIC_URL], [false, "http://10.20.30.40:3443"]);
    assert.match(insecureWarning(insecure) ?? "", /plain HTTP on 10\.20\.30\.40.*unencrypted/);
    assert.throws(
      () => loadEnv({ ...base, HOST: "10.20.30.40", PUBLIC_URL: "http://cp.example:3443" }),
      /PUBLIC_URL is http:\/\/cp\.example:3443, but the control plane serves HTTPS.*BERTH_INSECURE_HTTP=1/,
    );
  },
);
