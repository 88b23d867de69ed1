#!/usr/bin/python3
"""docker-py (Debian's python3-docker 5.0.3) as a client of a Docker API on DOCKER_HOST.

Each scenario is one function that drives the SDK the way a user's script would and checks the
result against what dockerd does. Run one, several or all:

    python3 docker_py_client.py exec_plain network_check_duplicate
    python3 docker_py_client.py            # every scenario
    python3 docker_py_client.py --list     # the scenario names

Every scenario prints one line `@@result {"name": ..., "ok": ..., "error": ..., "seconds": ...}`
that the node test parses; the exit code is 0 when all passed. Scenarios remove what they make.
"""

import io
import json
import os
import re
import signal
import socket
import sys
import tarfile
import tempfile
import time
import traceback

import docker
from docker.errors import APIError, NotFound
from docker.types import EndpointConfig, IPAMConfig, IPAMPool

API_VERSION = "1.41"  # what docker-py 5.0.3 and compose 1.29 speak by default
IMAGE = "busybox:latest"
PREFIX = f"dpy{os.getpid()}"
SCENARIO_TIMEOUT_S = 90


class Failure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def eq(actual, expected, what):
    if actual != expected:
        raise Failure(f"{what}: expected {expected!r}, got {actual!r}")


def name(base):
    return f"{PREFIX}-{base}"


def wait_until(what, fn, timeout=20.0, interval=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise Failure(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def api_error(fn, what):
    """Calls fn, which must fail with an APIError; returns it."""
    try:
        fn()
    except APIError as e:
        return e
    raise Failure(f"{what}: expected an API error, the call succeeded")


def tar_of(files):
    """An in-memory tar of {path: bytes}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = int(time.time())
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def untar(chunks):
    """{name: bytes or None for directories} from a get_archive stream."""
    t = tarfile.open(fileobj=io.BytesIO(b"".join(chunks)), mode="r")
    out = {}
    for m in t.getmembers():
        out[m.name.rstrip("/")] = t.extractfile(m).read() if m.isfile() else None
    return out


def now_s():
    """A `since` for events: docker-py sends whole seconds."""
    return int(time.time())


def soon():
    """An `until` for events that covers what happened up to now (whole seconds, so the next one)."""
    return int(time.time()) + 1


def host_ns(kind):
    return os.readlink(f"/proc/self/ns/{kind}")


class Scope:
    """What one scenario made, removed when it ends whatever happened."""

    def __init__(self, client):
        self.client = client
        self.api = client.api
        self.containers = []
        self.networks = []
        self.volumes = []

    def cleanup(self):
        for c in reversed(self.containers):
            try:
                self.api.remove_container(c, force=True, v=True)
            except NotFound:
                pass
            except APIError as e:
                print(f"cleanup: container {c}: {e}", file=sys.stderr)
        for n in self.networks:
            try:
                self.api.remove_network(n)
            except NotFound:
                pass
            except APIError as e:
                print(f"cleanup: network {n}: {e}", file=sys.stderr)
        for v in self.volumes:
            try:
                self.api.remove_volume(v, force=True)
            except NotFound:
                pass
            except APIError as e:
                print(f"cleanup: volume {v}: {e}", file=sys.stderr)

    def create(self, command, host_config=None, **kwargs):
        """Creates a busybox container; returns its id."""
        hc = self.api.create_host_config(**(host_config or {}))
        return self.create_raw(command, hc, **kwargs)

    def create_raw(self, command, hc, **kwargs):
        c = self.api.create_container(IMAGE, command, host_config=hc, **kwargs)
        self.containers.append(c["Id"])
        return c["Id"]

    def run(self, command, host_config=None, **kwargs):
        """Creates and starts a busybox container; returns its id."""
        cid = self.create(command, host_config, **kwargs)
        self.api.start(cid)
        return cid

    def sleeper(self, host_config=None, **kwargs):
        return self.run(["sleep", "300"], host_config, **kwargs)

    def oneshot(self, command, host_config=None, **kwargs):
        """Runs a command to its end: (exit code, stdout, stderr) as text."""
        cid = self.run(command, host_config, **kwargs)
        return self.finish(cid)

    def finish(self, cid):
        code = self.api.wait(cid, timeout=60)["StatusCode"]
        out = self.api.logs(cid, stdout=True, stderr=False).decode()
        err = self.api.logs(cid, stdout=False, stderr=True).decode()
        return code, out, err

    def exec(self, cid, cmd):
        """Runs cmd in a running container: (exit code, stdout+stderr as text)."""
        r = self.client.containers.get(cid).exec_run(cmd)
        return r.exit_code, r.output.decode()

    def inspect(self, cid):
        return self.api.inspect_container(cid)

    def ip(self, cid, network="bridge"):
        return self.inspect(cid)["NetworkSettings"]["Networks"][network]["IPAddress"]

    def network(self, base, **kwargs):
        n = self.api.create_network(name(base), **kwargs)
        self.networks.append(n["Id"])
        return name(base), n["Id"]

    def volume(self, base):
        v = self.api.create_volume(name(base))
        self.volumes.append(v["Name"])
        return v["Name"]


# ---------------------------------------------------------------- exec


def scenario_exec_plain(s):
    """exec without a TTY, not demuxed, not streamed: stdout and stderr in one, the exit code."""
    c = s.client.containers.get(s.sleeper())
    r = c.exec_run(["sh", "-c", "echo out; sleep 0.2; echo err >&2; exit 3"])
    eq(r.exit_code, 3, "exit code")
    eq(r.output, b"out\nerr\n", "output (stdout then stderr, frames joined)")
    r = c.exec_run("pwd", workdir="/tmp", user="nobody", environment={"FOO": "bar"})
    eq((r.exit_code, r.output), (0, b"/tmp\n"), "workdir")
    r = c.exec_run(["sh", "-c", "echo $(id -u) $FOO"], user="nobody", environment={"FOO": "bar"})
    eq(r.output, b"65534 bar\n", "user and environment")
    s.api.stop(c.id, timeout=1)
    e = api_error(lambda: c.exec_run("true"), "exec in a stopped container")
    eq(e.status_code, 409, "status of exec in a stopped container")
    check(re.search(r"Container [0-9a-f]+ is not running", str(e.explanation)), f"message: {e.explanation}")


def scenario_exec_demux(s):
    """exec without a TTY, demuxed: stdout and stderr apart."""
    c = s.client.containers.get(s.sleeper())
    r = c.exec_run(["sh", "-c", "echo out; echo err >&2; echo more"], demux=True)
    eq(r.exit_code, 0, "exit code")
    eq(r.output, (b"out\nmore\n", b"err\n"), "(stdout, stderr)")
    r = c.exec_run(["sh", "-c", "echo only-err >&2"], demux=True, stdout=False)
    eq(r.output, (None, b"only-err\n"), "stderr only")


def scenario_exec_tty(s):
    """exec with a TTY: one stream, the terminal's line endings, a pty as stdout; demuxed it all comes as stdout."""
    c = s.client.containers.get(s.sleeper())
    r = c.exec_run(["sh", "-c", "echo out; echo err >&2; tty"], tty=True)
    eq(r.exit_code, 0, "exit code")
    lines = r.output.split(b"\r\n")
    eq(lines[:2], [b"out", b"err"], "lines through the TTY (CRLF)")
    check(re.match(rb"/dev/pts/\d+$", lines[2]), f"tty names a pty: {r.output!r}")
    r = c.exec_run(["sh", "-c", "echo out; echo err >&2"], tty=True, demux=True)
    eq(r.output, (b"out\r\nerr\r\n", None), "demuxed TTY output")
    r = c.exec_run(["sh", "-c", "exit 7"], tty=True)
    eq(r.exit_code, 7, "exit code with a TTY")


def scenario_exec_stream(s):
    """exec streamed: chunks as the command writes them, with and without demux and a TTY."""
    c = s.client.containers.get(s.sleeper())
    script = "for i in 1 2 3; do echo $i; sleep 0.4; done; echo e >&2"
    r = c.exec_run(["sh", "-c", script], stream=True)
    eq(r.exit_code, None, "a streamed exec has no exit code yet")
    arrivals = []
    for chunk in r.output:
        arrivals.append((time.monotonic(), chunk))
    eq(b"".join(ch for _, ch in arrivals), b"1\n2\n3\ne\n", "streamed output")
    check(arrivals[-1][0] - arrivals[0][0] > 0.6, f"chunks arrive as written, not at the end: {arrivals!r}")

    r = c.exec_run(["sh", "-c", script], stream=True, demux=True)
    got = list(r.output)
    eq(b"".join(o for o, _ in got if o), b"1\n2\n3\n", "streamed demuxed stdout")
    eq(b"".join(e for _, e in got if e), b"e\n", "streamed demuxed stderr")
    check(all((o is None) != (e is None) for o, e in got), f"each chunk is one stream's: {got!r}")

    r = c.exec_run(["sh", "-c", script], stream=True, tty=True)
    eq(b"".join(r.output), b"1\r\n2\r\n3\r\ne\r\n", "streamed TTY output")

    # The low-level calls: create, start streamed, inspect for the exit code.
    ex = s.api.exec_create(c.id, ["sh", "-c", "echo low; exit 4"])
    eq(b"".join(s.api.exec_start(ex["Id"], stream=True)), b"low\n", "exec_start stream")
    info = wait_until("the exec to end", lambda: (lambda i: i if not i["Running"] else None)(s.api.exec_inspect(ex["Id"])))
    eq(info["ExitCode"], 4, "exec_inspect ExitCode")
    eq(info["ContainerID"], c.id, "exec_inspect ContainerID")
    eq(info["ProcessConfig"]["entrypoint"], "sh", "exec_inspect ProcessConfig.entrypoint")

    # Detached: returns at once, the command runs on.
    ex = s.api.exec_create(c.id, ["sh", "-c", "sleep 0.3; echo done > /tmp/detached"])
    eq(s.api.exec_start(ex["Id"], detach=True), "", "detached start answers empty")
    wait_until("the detached exec", lambda: s.api.exec_inspect(ex["Id"])["Running"] is False)
    eq(c.exec_run("cat /tmp/detached").output, b"done\n", "what the detached exec wrote")

    # A TTY exec resized while it runs.
    ex = s.api.exec_create(c.id, ["sh", "-c", "sleep 1; stty size"], tty=True)
    out = s.api.exec_start(ex["Id"], tty=True, stream=True)
    s.api.exec_resize(ex["Id"], height=33, width=101)
    eq(b"".join(out), b"33 101\r\n", "stty size after exec_resize")


# ---------------------------------------------------------------- networks


def scenario_network_check_duplicate(s):
    """network create with check_duplicate: a second network of the same name is a 409."""
    net, nid = s.network("dup", check_duplicate=True)
    info = s.api.inspect_network(nid)
    eq((info["Name"], info["Driver"], info["Scope"]), (net, "bridge", "local"), "inspect")
    e = api_error(lambda: s.api.create_network(net, check_duplicate=True), "a duplicate name")
    eq(e.status_code, 409, "status of a duplicate network")
    check(f"network with name {net} already exists" in str(e.explanation), f"message: {e.explanation}")
    eq([n["Id"] for n in s.api.networks(names=[net])], [nid], "one network of that name")


def scenario_network_connect_aliases_links(s):
    """connect with aliases and links: inspect shows them and the embedded DNS answers for both."""
    net, _ = s.network("al")
    upstream = name("upstream")
    a = s.sleeper({"network_mode": net})
    s.api.disconnect_container_from_network(a, net)
    s.api.connect_container_to_network(a, net, aliases=["alias-a"], links=[(upstream, "bar")])
    ep = s.inspect(a)["NetworkSettings"]["Networks"][net]
    check("alias-a" in (ep.get("Aliases") or []), f"Aliases: {ep.get('Aliases')}")
    eq(ep.get("Links"), [f"{upstream}:bar"], "Links")
    # The link's target may come after the link, as in dockerd.
    u = s.sleeper({"network_mode": net}, name=upstream)
    u_ip = s.ip(u, net)
    code, out = s.exec(a, ["nslookup", "bar"])
    check(code == 0 and u_ip in out, f"nslookup bar from the linking container should give {u_ip}: {out}")
    code, out = s.exec(u, ["nslookup", "alias-a"])
    check(code == 0 and s.ip(a, net) in out, f"nslookup alias-a from another container: {out}")
    # The link is the linking container's alone.
    code, out = s.exec(u, ["nslookup", "bar"])
    check(code != 0 or u_ip not in out, f"bar resolves only for the container that has the link: {out}")


def scenario_network_disconnect_force(s):
    """disconnect with force takes a running container off a network, interface and all."""
    n1, _ = s.network("f1")
    n2, n2id = s.network("f2")
    c = s.sleeper({"network_mode": n1})
    s.api.connect_container_to_network(c, n2)
    eq(sorted(s.inspect(c)["NetworkSettings"]["Networks"]), sorted([n1, n2]), "networks after connect")
    code, out = s.exec(c, ["ls", "/sys/class/net"])
    eq(sorted(out.split()), ["eth0", "eth1", "lo"], "interfaces after connect")
    s.api.disconnect_container_from_network(c, n2, force=True)
    eq(list(s.inspect(c)["NetworkSettings"]["Networks"]), [n1], "networks after disconnect")
    code, out = s.exec(c, ["ls", "/sys/class/net"])
    eq(sorted(out.split()), ["eth0", "lo"], "interfaces after disconnect")
    eq(s.api.inspect_network(n2id)["Containers"], {}, "the network's containers")
    e = api_error(lambda: s.api.disconnect_container_from_network(c, n2, force=True), "disconnecting again")
    check(e.status_code in (400, 403, 404, 409), f"status of a second disconnect: {e.status_code} {e.explanation}")


def scenario_network_aux_addresses(s):
    """IPAM AuxiliaryAddresses: kept in inspect and never handed to a container."""
    pool = IPAMPool(subnet="10.98.7.0/24", gateway="10.98.7.1", aux_addresses={"reserved": "10.98.7.2"})
    net, nid = s.network("aux", ipam=IPAMConfig(pool_configs=[pool]))
    cfg = s.api.inspect_network(nid)["IPAM"]["Config"]
    eq(len(cfg), 1, "IPAM.Config entries")
    eq(cfg[0].get("AuxiliaryAddresses"), {"reserved": "10.98.7.2"}, "IPAM.Config[0].AuxiliaryAddresses")
    eq(cfg[0].get("Subnet"), "10.98.7.0/24", "subnet")
    c = s.sleeper({"network_mode": net})
    eq(s.ip(c, net), "10.98.7.3", "the first container's address skips the reserved one")
    other = s.create(["sleep", "300"])
    s.api.start(other)
    e = api_error(lambda: s.api.connect_container_to_network(other, net, ipv4_address="10.98.7.2"), "asking for the reserved address")
    check("in use" in str(e.explanation).lower(), f"message: {e.explanation}")


# ---------------------------------------------------------------- container options (issue 22, point 3)


def scenario_opt_volumes_from(s):
    """HostConfig.VolumesFrom: another container's volumes, read-write and :ro."""
    src = s.create(["sh", "-c", "echo shared > /data/f"], volumes=["/data"])
    s.api.start(src)
    eq(s.api.wait(src, timeout=30)["StatusCode"], 0, "the source container's exit")
    vol = [m["Name"] for m in s.inspect(src)["Mounts"] if m["Destination"] == "/data"]
    eq(len(vol), 1, "the source's anonymous volume")
    code, out, err = s.oneshot(["sh", "-c", "cat /data/f && echo more >> /data/f"], {"volumes_from": [src]})
    eq((code, out, err), (0, "shared\n", ""), "reading and writing through volumes_from")
    code, out, err = s.oneshot(["sh", "-c", "cat /data/f; touch /data/g"], {"volumes_from": [f"{src}:ro"]})
    eq(out, "shared\nmore\n", "what the first user of the volume wrote")
    check(code != 0 and "Read-only file system" in err, f"a :ro volumes_from refuses writes: {code} {err}")
    dst = s.containers[-1]
    info = s.inspect(dst)
    eq(info["HostConfig"]["VolumesFrom"], [f"{src}:ro"], "HostConfig.VolumesFrom")
    m = [m for m in info["Mounts"] if m["Destination"] == "/data"]
    check(len(m) == 1 and m[0]["Name"] == vol[0] and m[0]["RW"] is False, f"Mounts: {info['Mounts']}")
    e = api_error(lambda: s.create(["true"], {"volumes_from": [name("nosuch")]}), "volumes_from a missing container")
    eq(e.status_code, 404, "status of volumes_from a missing container")


def scenario_opt_links(s):
    """HostConfig.Links on the default bridge: the /etc/hosts entry and the environment dockerd sets."""
    web_name, client_name = name("linkweb"), name("linkclient")
    web = s.sleeper(name=web_name, environment={"FOO": "bar"}, ports=[80])
    ip = s.ip(web)
    code, out, err = s.oneshot(["sh", "-c", "cat /etc/hosts; env"], {"links": {web_name: "webalias"}}, name=client_name)
    eq(code, 0, f"exit code ({err})")
    check(re.search(rf"^{re.escape(ip)}\s+webalias(\s|$)", out, re.M), f"/etc/hosts names {ip} webalias:\n{out}")
    env = dict(line.split("=", 1) for line in out.splitlines() if re.match(r"^WEBALIAS_\w+=", line))
    want = {
        "WEBALIAS_NAME": f"/{client_name}/webalias",
        "WEBALIAS_ENV_FOO": "bar",
        "WEBALIAS_PORT": f"tcp://{ip}:80",
        "WEBALIAS_PORT_80_TCP": f"tcp://{ip}:80",
        "WEBALIAS_PORT_80_TCP_ADDR": ip,
        "WEBALIAS_PORT_80_TCP_PORT": "80",
        "WEBALIAS_PORT_80_TCP_PROTO": "tcp",
    }
    for k, v in want.items():
        eq(env.get(k), v, f"link environment {k}")
    eq(s.inspect(client_name)["HostConfig"]["Links"], [f"/{web_name}:/{client_name}/webalias"], "HostConfig.Links")
    e = api_error(lambda: s.create(["true"], {"links": {name("nosuch"): "x"}}), "a link to a missing container")
    check(e.status_code in (400, 404), f"status of a link to a missing container: {e.status_code}")


def scenario_opt_group_add(s):
    """HostConfig.GroupAdd: numeric and named groups (from the image's /etc/group)."""
    code, out, err = s.oneshot(["id", "-G"], {"group_add": ["1234", "daemon"]})
    eq(code, 0, f"exit code ({err})")
    eq(sorted(out.split(), key=int), ["0", "1", "1234"], "id -G")
    code, out, err = s.oneshot(["sh", "-c", "id -u; id -G"], {"group_add": ["1234"]}, user="nobody")
    eq(out.split(), ["65534", "65534", "1234"], "a user's own group and the added one")
    eq(s.inspect(s.containers[-1])["HostConfig"]["GroupAdd"], ["1234"], "HostConfig.GroupAdd")


def scenario_opt_mac_address(s):
    """Config.MacAddress: the interface's address, and in inspect."""
    mac = "02:42:ac:11:00:99"
    cid = s.sleeper(mac_address=mac)
    eq(s.exec(cid, ["cat", "/sys/class/net/eth0/address"]), (0, f"{mac}\n"), "eth0's address")
    info = s.inspect(cid)
    eq(info["Config"].get("MacAddress"), mac, "Config.MacAddress")
    eq(info["NetworkSettings"]["Networks"]["bridge"]["MacAddress"], mac, "the endpoint's MacAddress")


def scenario_opt_memory_swappiness(s):
    """HostConfig.MemorySwappiness: the cgroup's memory.swappiness, and dockerd's range check."""
    cid = s.sleeper({"mem_swappiness": 10, "mem_limit": "64m"})
    eq(s.inspect(cid)["HostConfig"]["MemorySwappiness"], 10, "HostConfig.MemorySwappiness")
    if not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # cgroup v1: the knob exists
        code, out = s.exec(cid, ["cat", "/sys/fs/cgroup/memory/memory.swappiness"])
        eq((code, out.strip()), (0, "10"), "memory.swappiness in the container's cgroup")
    e = api_error(lambda: s.create(["true"], {"mem_swappiness": 101}), "swappiness 101")
    eq(e.status_code, 400, "status of swappiness 101")
    check("valid memory swappiness range is 0-100" in str(e.explanation), f"message: {e.explanation}")


def scenario_opt_device_cgroup_rules(s):
    """HostConfig.DeviceCgroupRules: a rule lets the container open a device node it made."""
    probe = ["sh", "-c", "mknod /tmp/dev c 42 0 && cat /tmp/dev"]
    code, out, err = s.oneshot(probe, {"device_cgroup_rules": ["c 42:* rmw"]})
    check(code != 0 and "No such device or address" in err, f"with the rule the open reaches the (absent) driver: {code} {err}")
    eq(s.inspect(s.containers[-1])["HostConfig"]["DeviceCgroupRules"], ["c 42:* rmw"], "HostConfig.DeviceCgroupRules")
    code, out, err = s.oneshot(probe)
    check(code != 0 and "Operation not permitted" in err, f"without it the device cgroup refuses: {code} {err}")


def scenario_opt_devices(s):
    """HostConfig.Devices: a host device under another path in the container."""
    code, out, err = s.oneshot(["sh", "-c", "stat -c '%F %t %T' /dev/myzero; head -c 3 /dev/myzero | od -An -tx1"], {
        "devices": ["/dev/zero:/dev/myzero:rwm"]
    })
    eq((code, err), (0, ""), "exit code and stderr")
    eq(out.split("\n")[0], "character special file 1 5", "the device node")
    eq(out.split("\n")[1].split(), ["00", "00", "00"], "reading it")
    eq(
        s.inspect(s.containers[-1])["HostConfig"]["Devices"],
        [{"PathOnHost": "/dev/zero", "PathInContainer": "/dev/myzero", "CgroupPermissions": "rwm"}],
        "HostConfig.Devices",
    )


def scenario_opt_runtime(s):
    """HostConfig.Runtime: runc runs, an unknown runtime is refused at create."""
    code, out, err = s.oneshot(["echo", "on-runc"], {"runtime": "runc"})
    eq((code, out), (0, "on-runc\n"), f"runtime runc ({err})")
    eq(s.inspect(s.containers[-1])["HostConfig"]["Runtime"], "runc", "HostConfig.Runtime")
    eq(s.api.info().get("DefaultRuntime"), "runc", "info DefaultRuntime")
    check("runc" in (s.api.info().get("Runtimes") or {}), "info Runtimes lists runc")
    e = api_error(lambda: s.create(["true"], {"runtime": "nope"}), "runtime nope")
    eq(e.status_code, 400, "status of an unknown runtime")
    check(re.search(r"runtime.*nope", str(e.explanation), re.I), f"message: {e.explanation}")


def scenario_opt_volume_driver(s):
    """HostConfig.VolumeDriver local: named volumes from binds made by the local driver."""
    vol = name("vd")
    s.volumes.append(vol)
    code, out, err = s.oneshot(
        ["sh", "-c", "echo kept > /data/f && cat /data/f"],
        {"binds": {vol: {"bind": "/data", "mode": "rw"}}, "volume_driver": "local"},
    )
    eq((code, out), (0, "kept\n"), f"writing to the volume ({err})")
    info = s.inspect(s.containers[-1])
    eq(info["HostConfig"]["VolumeDriver"], "local", "HostConfig.VolumeDriver")
    m = [m for m in info["Mounts"] if m["Destination"] == "/data"]
    check(len(m) == 1 and m[0]["Type"] == "volume" and m[0]["Name"] == vol and m[0]["Driver"] == "local", f"Mounts: {info['Mounts']}")
    eq(s.api.inspect_volume(vol)["Driver"], "local", "the volume's driver")


def scenario_opt_pid_mode(s):
    """HostConfig.PidMode host and container:<id>: the pid namespace is the host's or the other container's."""
    code, out, err = s.oneshot(["readlink", "/proc/self/ns/pid"], {"pid_mode": "host"})
    eq((code, out.strip()), (0, host_ns("pid")), f"pid namespace with pid_mode host ({err})")
    eq(s.inspect(s.containers[-1])["HostConfig"]["PidMode"], "host", "HostConfig.PidMode")
    donor = s.sleeper()
    _, donor_ns = s.exec(donor, ["readlink", "/proc/self/ns/pid"])
    code, out, err = s.oneshot(["sh", "-c", "readlink /proc/self/ns/pid; cat /proc/1/cmdline | tr '\\0' ' '"], {
        "pid_mode": f"container:{donor}"
    })
    lines = out.splitlines()
    eq((code, lines[0]), (0, donor_ns.strip()), f"pid namespace with pid_mode container: ({err})")
    eq(lines[1].strip(), "sleep 300", "pid 1 is the donor's process")
    eq(s.inspect(s.containers[-1])["HostConfig"]["PidMode"], f"container:{donor}", "HostConfig.PidMode")


def scenario_opt_ipc_mode(s):
    """HostConfig.IpcMode host and container:<id> (of a shareable donor)."""
    code, out, err = s.oneshot(["readlink", "/proc/self/ns/ipc"], {"ipc_mode": "host"})
    eq((code, out.strip()), (0, host_ns("ipc")), f"ipc namespace with ipc_mode host ({err})")
    donor = s.sleeper({"ipc_mode": "shareable"})
    eq(s.inspect(donor)["HostConfig"]["IpcMode"], "shareable", "the donor's IpcMode")
    _, donor_ns = s.exec(donor, ["readlink", "/proc/self/ns/ipc"])
    code, out, err = s.oneshot(["readlink", "/proc/self/ns/ipc"], {"ipc_mode": f"container:{donor}"})
    eq((code, out.strip()), (0, donor_ns.strip()), f"ipc namespace with ipc_mode container: ({err})")
    check(out.strip() != host_ns("ipc"), "the donor's ipc namespace is not the host's")
    eq(s.inspect(s.containers[-1])["HostConfig"]["IpcMode"], f"container:{donor}", "HostConfig.IpcMode")


def scenario_opt_uts_mode(s):
    """HostConfig.UTSMode host: the host's hostname; container:<id> (dockerd has only host, podman both): the donor's."""
    code, out, err = s.oneshot(["sh", "-c", "readlink /proc/self/ns/uts; hostname"], {"uts_mode": "host"})
    eq(code, 0, f"exit code ({err})")
    eq(out.splitlines(), [host_ns("uts"), socket.gethostname()], "uts namespace and hostname with uts_mode host")
    eq(s.inspect(s.containers[-1])["HostConfig"]["UTSMode"], "host", "HostConfig.UTSMode")
    donor = s.sleeper()
    hc = s.api.create_host_config()
    hc["UTSMode"] = f"container:{donor}"  # docker-py itself refuses it; sent raw, as other clients could
    _, donor_uts = s.exec(donor, ["sh", "-c", "readlink /proc/self/ns/uts; hostname"])
    joined = s.create_raw(["sh", "-c", "readlink /proc/self/ns/uts; hostname"], hc)
    s.api.start(joined)
    eq(s.api.wait(joined)["StatusCode"], 0, "exit code with uts_mode container:")
    eq(s.api.logs(joined).decode(), donor_uts, "uts namespace and hostname with uts_mode container:")


def scenario_opt_network_mode_container(s):
    """HostConfig.NetworkMode container:<id>: the other container's network namespace, its loopback services."""
    donor = s.run(["sh", "-c", "mkdir -p /www && echo from-donor > /www/index.html && exec httpd -f -p 80 -h /www"])
    _, donor_ns = s.exec(donor, ["readlink", "/proc/self/ns/net"])
    probe = "readlink /proc/self/ns/net; for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1/ && break; sleep 0.3; done"
    code, out, err = s.oneshot(["sh", "-c", probe], {"network_mode": f"container:{donor}"})
    eq(code, 0, f"exit code ({err})")
    eq(out.splitlines(), [donor_ns.strip(), "from-donor"], "network namespace and the donor's loopback server")
    info = s.inspect(s.containers[-1])
    eq(info["HostConfig"]["NetworkMode"], f"container:{donor}", "HostConfig.NetworkMode")
    eq(info["NetworkSettings"]["Networks"], {}, "a container: network mode has no networks of its own")
    e = api_error(
        lambda: s.create(["true"], {"network_mode": f"container:{donor}", "port_bindings": {80: 8080}}, ports=[80]),
        "ports with network_mode container:",
    )
    eq(e.status_code, 400, "status of ports with network_mode container:")
    check("conflicting options" in str(e.explanation), f"message: {e.explanation}")


def scenario_opt_dns(s):
    """HostConfig.Dns, DnsSearch, DnsOptions: the container's resolv.conf."""
    hc = {"dns": ["10.0.0.53"], "dns_search": ["example.test"], "dns_opt": ["ndots:2"]}
    code, out, err = s.oneshot(["cat", "/etc/resolv.conf"], hc)
    eq(code, 0, f"exit code ({err})")
    lines = [line.strip() for line in out.splitlines() if line.strip() and not line.startswith("#")]
    check("nameserver 10.0.0.53" in lines, f"nameserver in resolv.conf:\n{out}")
    check(not any(line.startswith("nameserver") and "10.0.0.53" not in line for line in lines), f"only that nameserver:\n{out}")
    check("search example.test" in lines, f"search in resolv.conf:\n{out}")
    check("options ndots:2" in lines, f"options in resolv.conf:\n{out}")
    h = s.inspect(s.containers[-1])["HostConfig"]
    eq((h["Dns"], h["DnsSearch"], h["DnsOptions"]), (["10.0.0.53"], ["example.test"], ["ndots:2"]), "HostConfig Dns*")


def scenario_opt_extra_hosts(s):
    """HostConfig.ExtraHosts: /etc/hosts entries."""
    code, out, err = s.oneshot(["cat", "/etc/hosts"], {"extra_hosts": {"db.test": "10.1.2.3", "cache.test": "10.1.2.4"}})
    eq(code, 0, f"exit code ({err})")
    check(re.search(r"^10\.1\.2\.3\s+db\.test$", out, re.M), f"db.test in /etc/hosts:\n{out}")
    check(re.search(r"^10\.1\.2\.4\s+cache\.test$", out, re.M), f"cache.test in /etc/hosts:\n{out}")
    check(re.search(r"^127\.0\.0\.1\s+localhost", out, re.M), f"localhost kept:\n{out}")
    eq(sorted(s.inspect(s.containers[-1])["HostConfig"]["ExtraHosts"]), ["cache.test:10.1.2.4", "db.test:10.1.2.3"], "ExtraHosts")


def scenario_opt_cgroupns_isolation(s):
    """HostConfig.CgroupnsMode and Isolation in inspect; private and host cgroup namespaces."""
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    cid = s.create(["readlink", "/proc/self/ns/cgroup"])
    h = s.inspect(cid)["HostConfig"]
    eq(h.get("CgroupnsMode"), "private" if v2 else "host", "the default CgroupnsMode (dockerd's for this cgroup version)")
    check("Isolation" in h, f"HostConfig has Isolation: {sorted(h)}")
    eq(h["Isolation"], "", "Isolation on Linux")
    for mode in ("private", "host"):
        hc = s.api.create_host_config()
        hc["CgroupnsMode"] = mode  # docker-py 5.0.3 has no argument for it
        cid = s.create_raw(["readlink", "/proc/self/ns/cgroup"], hc)
        eq(s.inspect(cid)["HostConfig"]["CgroupnsMode"], mode, "HostConfig.CgroupnsMode")
        s.api.start(cid)
        code, out, err = s.finish(cid)
        eq(code, 0, f"exit code ({err})")
        check((out.strip() == host_ns("cgroup")) == (mode == "host"), f"cgroup namespace with {mode}: {out.strip()}")
    hc = s.api.create_host_config()
    hc["CgroupnsMode"] = "bogus"
    e = api_error(lambda: s.create_raw(["true"], hc), "CgroupnsMode bogus")
    eq(e.status_code, 400, "status of CgroupnsMode bogus")


# ---------------------------------------------------------------- health checks


def health(s, cid):
    return (s.inspect(cid)["State"].get("Health") or {}).get("Status")


def scenario_health_null_fields(s):
    """A healthcheck sent with null fields (docker-py's Healthcheck): defaults apply, the container turns healthy."""
    started = now_s()
    probe = ["CMD-SHELL", "test -f /tmp/ok && echo probe-ok"]
    # Timeout, Retries and StartPeriod go as null. The first probe (after 1s) fails, a later one passes.
    cid = s.run(
        ["sh", "-c", "sleep 1.5; touch /tmp/ok; exec sleep 300"],
        healthcheck={"test": probe, "interval": 1_000_000_000},
        labels={"berth.test": f"health-{PREFIX}"},
    )
    eq(health(s, cid), "starting", "status before a probe passes")
    hc = s.inspect(cid)["Config"]["Healthcheck"]
    eq((hc["Test"], hc["Interval"]), (probe, 1_000_000_000), "Config.Healthcheck")
    wait_until("healthy", lambda: health(s, cid) == "healthy", 15)
    h = s.inspect(cid)["State"]["Health"]
    eq(h["FailingStreak"], 0, "FailingStreak")
    last = h["Log"][-1]
    eq((last["ExitCode"], last["Output"]), (0, "probe-ok\n"), "the last probe")
    eq([c["Id"] for c in s.api.containers(filters={"health": "healthy", "id": cid})], [cid], "ps filter health=healthy")
    # Found by the container's label: health events carry the labels, as every container event does.
    by_label = {"label": f"berth.test=health-{PREFIX}", "event": "health_status"}
    events = s.api.events(since=started, until=soon(), filters=by_label, decode=True)
    actions = [(e["Action"], e["Actor"]["ID"]) for e in events]
    check(("health_status: healthy", cid) in actions, f"health_status events: {actions}")


def scenario_health_unhealthy(s):
    """A failing probe: unhealthy after Retries failures, with its output and exit code logged."""
    cid = s.sleeper(healthcheck={"test": ["CMD-SHELL", "echo probe-says-no; exit 1"], "interval": 200_000_000, "retries": 2})
    wait_until("unhealthy", lambda: health(s, cid) == "unhealthy", 15)
    h = s.inspect(cid)["State"]["Health"]
    check(h["FailingStreak"] >= 2, f"FailingStreak {h['FailingStreak']}")
    last = h["Log"][-1]
    eq((last["ExitCode"], last["Output"]), (1, "probe-says-no\n"), "the last probe")
    check(len(h["Log"]) <= 5, f"the log keeps the last 5 probes: {len(h['Log'])}")


def scenario_health_none(s):
    """Test NONE disables a healthcheck: no Health in State."""
    cid = s.sleeper(healthcheck={"test": ["NONE"]})
    time.sleep(0.5)
    state = s.inspect(cid)["State"]
    check(state.get("Health") is None, f"State.Health with test NONE: {state.get('Health')}")


# ---------------------------------------------------------------- archives on volume paths


def scenario_archive_volume_created(s):
    """put_archive and get_archive on a volume path of a container only created."""
    vol = name("arc-created")
    s.volumes.append(vol)
    cid = s.create(["cat", "/data/in.txt"], {"binds": {vol: {"bind": "/data", "mode": "rw"}}})
    eq(s.api.put_archive(cid, "/data", tar_of({"in.txt": b"put before start\n"})), True, "put_archive")
    stream, stat = s.api.get_archive(cid, "/data/in.txt")
    eq((stat["name"], stat["size"]), ("in.txt", 17), "the archive's stat header")
    eq(untar(stream), {"in.txt": b"put before start\n"}, "get_archive of the file")
    s.api.start(cid)
    code, out, _ = s.finish(cid)
    eq((code, out), (0, "put before start\n"), "the container reads what was put on its volume")


def scenario_archive_volume_running(s):
    """put_archive and get_archive on a named volume and a bind of a running container."""
    vol = name("arc-running")
    s.volumes.append(vol)
    bind_dir = tempfile.mkdtemp(prefix="dpy-bind-")
    try:
        cid = s.sleeper({"binds": {vol: {"bind": "/data", "mode": "rw"}, bind_dir: {"bind": "/bind", "mode": "rw"}}})
        eq(s.api.put_archive(cid, "/data", tar_of({"sub/f.txt": b"on the volume\n"})), True, "put_archive to the volume")
        eq(s.exec(cid, ["cat", "/data/sub/f.txt"]), (0, "on the volume\n"), "the file in the container")
        stream, stat = s.api.get_archive(cid, "/data")
        check(stat["mode"] & 0x80000000, f"/data is a directory: {stat}")
        eq(untar(stream), {"data": None, "data/sub": None, "data/sub/f.txt": b"on the volume\n"}, "get_archive of the volume's root")
        eq(s.api.put_archive(cid, "/bind", tar_of({"b.txt": b"on the bind\n"})), True, "put_archive to the bind")
        with open(os.path.join(bind_dir, "b.txt"), "rb") as f:
            eq(f.read(), b"on the bind\n", "the file on the host")
        stream, _ = s.api.get_archive(cid, "/bind/b.txt")
        eq(untar(stream), {"b.txt": b"on the bind\n"}, "get_archive from the bind")
        e = api_error(lambda: s.api.get_archive(cid, "/data/missing"), "a missing path")
        eq(e.status_code, 404, "status of a missing path")
    finally:
        for root, dirs, files in os.walk(bind_dir, topdown=False):
            for f in files:
                os.unlink(os.path.join(root, f))
            for d in dirs:
                os.rmdir(os.path.join(root, d))
        os.rmdir(bind_dir)


def scenario_archive_volume_stopped(s):
    """get_archive and put_archive on a volume path of a stopped container."""
    vol = name("arc-stopped")
    s.volumes.append(vol)
    cid = s.run(["sh", "-c", "echo written-while-running > /data/w"], {"binds": {vol: {"bind": "/data", "mode": "rw"}}})
    eq(s.api.wait(cid, timeout=30)["StatusCode"], 0, "the writer's exit")
    stream, _ = s.api.get_archive(cid, "/data/w")
    eq(untar(stream), {"w": b"written-while-running\n"}, "get_archive from a stopped container's volume")
    eq(s.api.put_archive(cid, "/data", tar_of({"p": b"put-after-stop\n"})), True, "put_archive to a stopped container")
    code, out, _ = s.oneshot(["cat", "/data/p"], {"binds": {vol: {"bind": "/data", "mode": "ro"}}})
    eq((code, out), (0, "put-after-stop\n"), "another container sees the file on the volume")


# ---------------------------------------------------------------- events, stats, logs


def scenario_events(s):
    """events: a live stream filtered by container, and a since/until window that ends by itself."""
    cname = name("ev")
    since = now_s()
    live = s.api.events(filters={"container": cname}, decode=True)
    try:
        cid = s.create(["sh", "-c", "exit 2"], name=cname, labels={"berth.test": "ev"})
        s.api.start(cid)
        s.api.wait(cid, timeout=30)
        s.api.remove_container(cid)
        seen = []
        for ev in live:
            seen.append(ev)
            if ev.get("Action") == "destroy":
                break
    finally:
        live.close()
    actions = [e["Action"] for e in seen]
    eq([a for a in actions if a in ("create", "start", "die", "destroy")], ["create", "start", "die", "destroy"], "container events")
    die = next(e for e in seen if e["Action"] == "die")
    eq(die["Type"], "container", "Type")
    eq(die["Actor"]["ID"], cid, "Actor.ID")
    eq(die["Actor"]["Attributes"].get("exitCode"), "2", "die exitCode")
    eq(die["Actor"]["Attributes"].get("name"), cname, "Actor.Attributes.name")
    eq(die["Actor"]["Attributes"].get("berth.test"), "ev", "the container's labels as attributes")
    check(die.get("status") == "die" and die.get("id") == cid, f"the pre-1.22 fields: {die}")
    check(isinstance(die.get("timeNano"), int) and die["timeNano"] // 10**9 == die["time"], f"time and timeNano: {die}")

    net, _ = s.network("ev")
    vol = s.volume("ev")
    s.api.remove_network(net)
    s.api.remove_volume(vol)
    window = list(s.api.events(since=since, until=soon(), decode=True))
    kinds = {(e["Type"], e["Action"], e["Actor"]["Attributes"].get("name") or e["Actor"]["ID"]) for e in window}
    for want in [("container", "destroy", cname), ("network", "create", net), ("network", "destroy", net)]:
        check(want in kinds, f"{want} in the since/until window")
    check(("volume", "create", vol) in kinds and ("volume", "destroy", vol) in kinds, f"volume events for {vol}")
    only = list(s.api.events(since=since, until=soon(), filters={"type": "network"}, decode=True))
    check(only and all(e["Type"] == "network" for e in only), f"filter type=network: {[e['Type'] for e in only]}")


def scenario_stats(s):
    """stats: one sample, then a stream whose precpu is the sample before."""
    cname = name("st")
    cid = s.run(["sh", "-c", "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; exec sleep 300"], name=cname)
    one = s.api.stats(cid, stream=False)
    eq(one["name"], f"/{cname}", "name")
    eq(one["id"], cid, "id")
    check(one["cpu_stats"]["cpu_usage"]["total_usage"] > 0, f"cpu usage: {one['cpu_stats']}")
    check(one["memory_stats"].get("usage", 0) > 0 and one["memory_stats"].get("limit", 0) > 0, f"memory: {one['memory_stats']}")
    check(one["pids_stats"].get("current", 0) >= 1, f"pids: {one['pids_stats']}")
    check("eth0" in (one.get("networks") or {}), f"networks: {one.get('networks')}")
    stream = s.api.stats(cid, stream=True, decode=True)
    first = next(stream)
    second = next(stream)
    check(second["read"] > first["read"], f"read advances: {first['read']} then {second['read']}")
    eq(
        second["precpu_stats"]["cpu_usage"]["total_usage"],
        first["cpu_stats"]["cpu_usage"]["total_usage"],
        "the second sample's precpu_stats are the first's cpu_stats",
    )
    m = s.client.containers.get(cid).stats(stream=False)
    eq(m["id"], cid, "the model's stats")


def scenario_logs_follow(s):
    """logs with follow: lines as they are written, the stream ends when the container does; tail, timestamps, stderr apart."""
    cid = s.run(["sh", "-c", "for i in 1 2 3 4; do echo line$i; sleep 0.4; done; echo bye >&2"])
    arrivals = []
    for chunk in s.api.logs(cid, stream=True, follow=True):
        arrivals.append((time.monotonic(), chunk))
    eq(b"".join(c for _, c in arrivals), b"line1\nline2\nline3\nline4\nbye\n", "followed logs")
    check(arrivals[-1][0] - arrivals[0][0] > 0.8, f"lines arrive as written: {[round(t - arrivals[0][0], 2) for t, _ in arrivals]}")
    eq(s.api.wait(cid, timeout=10)["StatusCode"], 0, "exit code")
    eq(s.api.logs(cid, stderr=False), b"line1\nline2\nline3\nline4\n", "stdout only")
    eq(s.api.logs(cid, stdout=False), b"bye\n", "stderr only")
    eq(s.api.logs(cid, tail=2), b"line4\nbye\n", "tail=2")
    stamped = s.api.logs(cid, timestamps=True, stderr=False).decode().splitlines()
    eq(len(stamped), 4, "timestamped lines")
    check(all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line\d$", line) for line in stamped), f"timestamps: {stamped}")
    # follow on a stopped container returns what there is and ends.
    eq(b"".join(s.api.logs(cid, stream=True, follow=True, stdout=False)), b"bye\n", "follow after the end")
    # A TTY container's log is raw.
    tty = s.run(["sh", "-c", "echo a; echo b"], tty=True)
    eq(b"".join(s.api.logs(tty, stream=True, follow=True)), b"a\r\nb\r\n", "a TTY container's followed log")


SCENARIOS = {n[len("scenario_") :]: f for n, f in list(globals().items()) if n.startswith("scenario_")}


class ScenarioTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise ScenarioTimeout(f"scenario took over {SCENARIO_TIMEOUT_S}s")


def ensure_image(client):
    try:
        client.api.inspect_image(IMAGE)
    except NotFound:
        client.api.pull("busybox", tag="latest")


def main(argv):
    if argv == ["--list"]:
        print("\n".join(SCENARIOS))
        return 0
    unknown = [a for a in argv if a not in SCENARIOS]
    if unknown:
        print(f"unknown scenarios: {' '.join(unknown)}; --list names them", file=sys.stderr)
        return 2
    client = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version=API_VERSION, timeout=60)
    ensure_image(client)
    signal.signal(signal.SIGALRM, on_alarm)
    failed = 0
    for n in argv or list(SCENARIOS):
        scope = Scope(client)
        t0 = time.monotonic()
        error = None
        signal.alarm(SCENARIO_TIMEOUT_S)
        try:
            SCENARIOS[n](scope)
        except Failure as e:
            error = str(e)
        except Exception as e:  # an SDK error is a failure of the scenario, with where it happened
            tb = traceback.extract_tb(e.__traceback__)
            here = next((f"line {f.lineno}: {f.line}" for f in reversed(tb) if f.filename == __file__), "")
            error = f"{type(e).__name__}: {e} ({here})"
        finally:
            signal.alarm(0)
            scope.cleanup()
        failed += error is not None
        result = {"name": n, "ok": error is None, "error": error, "seconds": round(time.monotonic() - t0, 2)}
        print("@@result " + json.dumps(result), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
