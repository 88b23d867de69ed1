// Docker's -v and --mount syntaxes: what each form means, and the errors for bad ones.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fromMount, fromTmpfs, parseBind, parseMountFlag } from "../src/mounts.ts";

test("-v: volumes by name, binds by absolute path, anonymous volumes, modes", () => {
  assert.deepEqual(parseBind("data:/var/lib/data"), {
    type: "volume",
    source: "data",
    target: "/var/lib/data",
    readOnly: false,
    propagation: "rprivate",
    noCopy: false,
    mode: "",
    createSource: true,
  });
  assert.deepEqual(parseBind("/srv//www/:/usr/share/html:ro,rshared"), {
    type: "bind",
    source: "/srv/www",
    target: "/usr/share/html",
    readOnly: true,
    propagation: "rshared",
    noCopy: false,
    mode: "ro,rshared",
    createSource: true,
  });
  assert.equal(parseBind("/data").type, "volume");
  assert.equal(parseBind("/data").source, "", "a bare path is an anonymous volume");
  assert.equal(parseBind("v1:/d:nocopy").noCopy, true);
  assert.equal(parseBind("/h:/d:z").mode, "z");
  assert.throws(() => parseBind("/h:/d:ro,rw"), { message: "invalid mode: ro,rw" });
  assert.throws(() => parseBind("/h:/d:nocopy"), { message: "invalid mode: nocopy" }, "nocopy is for volumes");
  assert.throws(() => parseBind("v1:/d:shared"), /field BindOptions must not be specified/);
  assert.throws(() => parseBind(""), { message: "invalid volume specification: ''" });
  assert.throws(() => parseBind("a::b"), { message: "invalid volume specification: 'a::b'" });
  assert.throws(() => parseBind("x:/d"), {
    message: "create x: volume name is too short, names should be at least two alphanumeric characters",
  });
  assert.throws(() => parseBind("a b:/d"), /"a b" includes invalid characters for a local volume name/);
  assert.throws(() => parseBind("./rel:/d"), /includes invalid characters for a local volume name.*use absolute path/);
});

test("--mount: the CLI's key=value syntax into HostConfig.Mounts, with its errors", () => {
  assert.deepEqual(parseMountFlag("type=bind,src=/srv,dst=/www,readonly,bind-propagation=rslave"), {
    Type: "bind",
    Source: "/srv",
    Target: "/www",
    ReadOnly: true,
    BindOptions: { Propagation: "rslave" },
  });
  assert.deepEqual(parseMountFlag("source=data,target=/d,volume-nocopy,volume-label=a=b"), {
    Type: "volume",
    Source: "data",
    Target: "/d",
    VolumeOptions: { NoCopy: true, Labels: { a: "b" } },
  });
  assert.deepEqual(parseMountFlag("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770"), {
    Type: "tmpfs",
    Target: "/t",
    TmpfsOptions: { SizeBytes: 64 * 2 ** 20, Mode: 0o1770 },
  });
  assert.throws(() => parseMountFlag("type=volume,source"), { message: "invalid field 'source' must be a key=value pair" });
  assert.throws(() => parseMountFlag("type=volume,target=/d,colour=red"), { message: "unknown option 'colour' in 'colour=red'" });
  assert.throws(() => parseMountFlag("type=volume,source=x"), {
    message: 'invalid mount config for type "volume": field Target must not be empty',
  });
  assert.throws(() => parseMountFlag("target=/d,readonly=maybe"), /invalid value for 'readonly': invalid boolean value \("maybe"\)/);
  assert.throws(() => parseMountFlag("type=bind,source=/s,target=/x,volume-nocopy"), {
    message: "cannot mix 'volume-*' options with mount type 'bind'",
  });
  assert.throws(() => parseMountFlag("type=nfs,target=/x"), /invalid value for 'type'/);
});

test("Mounts and Tmpfs are validated as the daemon validates them", () => {
  assert.throws(() => fromMount({ Type: "bind", Target: "/x" }), {
    message: 'invalid mount config for type "bind": field Source must not be empty',
  });
  assert.throws(() => fromMount({ Type: "volume", Source: "v1", Target: "x" }), {
    message: "invalid mount config for type \"volume\": invalid mount path: 'x' mount path must be absolute",
  });
  assert.throws(() => fromMount({ Type: "tmpfs", Target: "/x", BindOptions: { Propagation: "shared" } }), {
    message: 'invalid mount config for type "tmpfs": field BindOptions must not be specified',
  });
  assert.deepEqual(fromTmpfs("/run", "size=1m,mode=1777,exec").tmpfs, { sizeBytes: 1024 * 1024, mode: 0o1777 });
  assert.throws(() => fromTmpfs("/run", "size=1m,bogus"), { message: "invalid tmpfs option: bogus" });
});

test("-p: Docker's publish forms and errors", async () => {
  const { parsePortSpec } = await import("../src/ports.ts");
  assert.deepEqual(parsePortSpec("8081:80"), { key: "80/tcp", binding: { HostIp: "", HostPort: "8081" } });
  assert.deepEqual(parsePortSpec("127.0.0.1:5353:53/udp"), { key: "53/udp", binding: { HostIp: "127.0.0.1", HostPort: "5353" } });
  assert.deepEqual(parsePortSpec("80"), { key: "80/tcp", binding: { HostIp: "", HostPort: "" } });
  assert.deepEqual(parsePortSpec("10.0.0.1::80"), { key: "80/tcp", binding: { HostIp: "10.0.0.1", HostPort: "" } });
  assert.throws(() => parsePortSpec("8081:http"), { message: "Invalid containerPort: http" });
  assert.throws(() => parsePortSpec("99999:80"), { message: "Invalid hostPort: 99999" });
  assert.throws(() => parsePortSpec("80/sctpx"), { message: "Invalid proto: sctpx" });
  assert.throws(() => parsePortSpec("host:1:80"), { message: "Invalid ip address: host" });
});
