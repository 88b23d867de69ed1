import { test } from "node:test";
import assert from "node:assert/strict";
import {
  formatReference,
  isLoopbackRegistry,
  parseReference,
  InvalidReferenceError,
  registryHost,
  withDefaultTag,
} from "../src/registry/reference.ts";

const D = `sha256:${"a".repeat(64)}`;

test("references normalize as Docker's do", () => {
  const cases: Array<[string, { domain: string; path: string; tag: string | null; digest: string | null }]> = [
    ["busybox", { domain: "docker.io", path: "library/busybox", tag: null, digest: null }],
    ["busybox:1.36", { domain: "docker.io", path: "library/busybox", tag: "1.36", digest: null }],
    ["library/busybox", { domain: "docker.io", path: "library/busybox", tag: null, digest: null }],
    ["docker.io/busybox", { domain: "docker.io", path: "library/busybox", tag: null, digest: null }],
    ["index.docker.io/library/busybox", { domain: "docker.io", path: "library/busybox", tag: null, digest: null }],
    ["user/app:v1", { domain: "docker.io", path: "user/app", tag: "v1", digest: null }],
    ["localhost/app", { domain: "localhost", path: "app", tag: null, digest: null }],
    ["localhost:5000/a/b/c:t", { domain: "localhost:5000", path: "a/b/c", tag: "t", digest: null }],
    [`127.0.0.1:5000/app@${D}`, { domain: "127.0.0.1:5000", path: "app", tag: null, digest: D }],
    [`ghcr.io/o/r:tag@${D}`, { domain: "ghcr.io", path: "o/r", tag: "tag", digest: D }],
    ["[::1]:5000/app", { domain: "[::1]:5000", path: "app", tag: null, digest: null }],
    ["Registry.Example.com/app", { domain: "Registry.Example.com", path: "app", tag: null, digest: null }],
    ["a__b/c-d.e_f", { domain: "docker.io", path: "a__b/c-d.e_f", tag: null, digest: null }],
  ];
  for (const [input, want] of cases) assert.deepEqual(parseReference(input), want, input);
});

test("familiar formatting and default tag", () => {
  assert.equal(formatReference(withDefaultTag(parseReference("busybox"))), "busybox:latest");
  assert.equal(formatReference(withDefaultTag(parseReference("docker.io/user/app"))), "user/app:latest");
  assert.equal(formatReference(withDefaultTag(parseReference("127.0.0.1:5000/app"))), "127.0.0.1:5000/app:latest");
  assert.equal(formatReference(parseReference("busybox"), false), "docker.io/library/busybox");
  assert.equal(withDefaultTag(parseReference(`busybox@${D}`)).tag, null, "a digest needs no tag");
});

test("bad references get Docker's messages", () => {
  const bad: Array<[string, RegExp]> = [
    ["", /at least one component/],
    ["Busybox", /must be lowercase/],
    ["user/App", /must be lowercase/],
    ["busybox:", /invalid reference format/],
    ["busybox:-tag", /invalid reference format/],
    ["busybox@sha256:abc", /invalid (reference format|checksum digest format)/],
    [`busybox@sha256:${"A".repeat(64)}`, /invalid checksum digest format/],
    ["-busybox", /invalid reference format/],
    ["bus//box", /invalid reference format/],
    ["busybox ", /invalid reference format/],
    [`a/${"b".repeat(260)}`, /not be more than 255/],
    [`busybox:${"t".repeat(129)}`, /invalid reference format/],
    ["ex ample.com/app", /invalid reference format/],
  ];
  for (const [input, msg] of bad)
    assert.throws(
      () => parseReference(input),
      (e: unknown) => e instanceof InvalidReferenceError && msg.test(e.message),
      JSON.stringify(input),
    );
});

test("Docker Hub's API host and loopback registries", () => {
  assert.equal(registryHost("docker.io"), "registry-1.docker.io");
  assert.equal(registryHost("127.0.0.1:5000"), "127.0.0.1:5000");
  for (const d of ["localhost", "localhost:5000", "127.0.0.1:5000", "127.9.9.9", "[::1]:5000"])
    assert.equal(isLoopbackRegistry(d), true, d);
  for (const d of ["docker.io", "10.0.0.1:5000", "example.com", "localhost.example.com"]) assert.equal(isLoopbackRegistry(d), false, d);
});
