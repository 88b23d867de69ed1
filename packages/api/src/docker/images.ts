import { anyFilter, badRequest, boolParam, DockerApiError, filtersParam, labelsMatch, type Router } from "@berth/docker-api";
import { type FleetRequest, type InventoryRow, inventoryOf, splitHost } from "./context.ts";

/*
 * The fleet's images: every host's, listed from the inventory with the host in front of each tag
 * (`lab-h1/busybox:latest`), as containers are `host/name`. A pull goes to every host of the
 * caller, or to one named in front (`docker pull lab-h1/busybox`); rmi and inspect take the same
 * form. The CLI reads a name in front as a Docker Hub namespace, so only Docker Hub images (and
 * their mirrors) can be pulled to one host this way; others are pulled on every host.
 */

/** `busybox` → `busybox:latest`; a reference with a tag or digest stays. */
function withTag(ref: string): string {
  const last = ref.slice(ref.lastIndexOf("/") + 1);
  return last.includes(":") || last.includes("@") ? ref : `${ref}:latest`;
}

const tagsOf = (row: InventoryRow) => (row.image ? row.image.split(", ").filter(Boolean) : []);

/** The image rows on the caller's hosts that `ref` names (a tag, an ID or a unique ID prefix), on `hostId` if given. */
async function imageRows(r: FleetRequest, ref: string, hostId?: string): Promise<InventoryRow[]> {
  const tag = withTag(ref);
  const id = ref.startsWith("sha256:") ? ref : `sha256:${ref}`;
  return (await inventoryOf(r, "image")).filter(
    (row) =>
      (!hostId || row.hostId === hostId) &&
      (tagsOf(row).some((t) => t === tag || t === `docker.io/library/${tag}`) ||
        (/^(sha256:)?[0-9a-f]{4,64}$/.test(ref) && row.id.startsWith(id))),
  );
}

function summaryOf(row: InventoryRow) {
  const tags = tagsOf(row);
  return {
    Id: row.id,
    ParentId: "",
    RepoTags: tags.map((t) => `${row.hostName}/${t}`),
    RepoDigests: [],
    Created: Math.floor(row.created.getTime() / 1000),
    Size: row.size,
    SharedSize: -1,
    VirtualSize: row.size,
    Labels: { "com.berth.host": row.hostName, "com.berth.host.id": row.hostId },
    Containers: -1,
  };
}

/** JSON lines of a pull's progress, as dockerd streams them. */
function progressWriter(r: FleetRequest) {
  r.res.writeHead(200, { "Content-Type": "application/json" });
  return (line: Record<string, unknown>) => r.res.write(`${JSON.stringify(line)}\n`);
}

/** At most this many hosts pull at once (each pull is the host's own download). */
const PULL_CONCURRENCY = 8;

export function imageRoutes(router: Router<FleetRequest>): void {
  router.get("/distribution/{name*}/json", async (r) => r.json(200, await r.api.images.distribution({ reference: r.params.name! })));

  router.get("/images/json", async (r) => {
    const f = filtersParam(r.query, ["reference", "dangling", "label", "node"]);
    const any = (key: string, test: (v: string) => boolean) => anyFilter(f, key, test);
    const rows = (await inventoryOf(r, "image")).filter(
      (row) =>
        any("reference", (v) => tagsOf(row).some((t) => t === withTag(v) || t.startsWith(`${v}:`))) &&
        any("dangling", (v) => (v === "true" || v === "1") === (tagsOf(row).length === 0)) &&
        any("node", (v) => row.hostName === v || row.hostId === v) &&
        labelsMatch({ "com.berth.host": row.hostName, "com.berth.host.id": row.hostId }, f.get("label")),
    );
    r.json(200, rows.sort((a, b) => b.created.getTime() - a.created.getTime()).map(summaryOf));
  });

  router.get("/images/{name*}/json", async (r) => {
    const { host, rest } = await splitHost(r, r.params.name!);
    const row = (await imageRows(r, rest, host?.id))[0];
    if (!row) throw new DockerApiError(404, `No such image: ${r.params.name}`);
    const info = (await r.api.images.inspect({ hostId: row.hostId, name: row.id })) as Record<string, unknown>;
    r.json(200, { ...info, Node: { ID: row.hostId, Name: row.hostName } });
  });

  router.delete("/images/{name*}", async (r) => {
    const { host, rest } = await splitHost(r, r.params.name!);
    const rows = await imageRows(r, rest, host?.id);
    if (!rows.length) throw new DockerApiError(404, `No such image: ${r.params.name}`);
    const force = boolParam(r.query, "force");
    const out: unknown[] = [];
    // By tag, the tag goes on each host that has it; by ID, the image.
    const name = rest.startsWith("sha256:") || /^[0-9a-f]{4,64}$/.test(rest) ? null : rest;
    for (const row of rows) out.push(...(await r.api.images.remove({ hostId: row.hostId, name: name ?? row.id, force })));
    r.json(200, out);
  });

  router.post("/images/create", async (r) => {
    const from = r.query.get("fromImage");
    if (!from) throw badRequest("the fleet endpoint pulls images (fromImage); import one on its host");
    const tag = r.query.get("tag");
    const platform = r.query.get("platform") || undefined;
    // The CLI sends `lab-h1/busybox` as docker.io/lab-h1/busybox: the host is the first segment after it.
    const hub = from.startsWith("docker.io/") ? from.slice("docker.io/".length) : from;
    const split = await splitHost(r, hub);
    const host = split.host;
    const rest = host ? split.rest : from;
    const reference = tag ? (tag.startsWith("sha256:") ? `${rest}@${tag}` : `${rest}:${tag}`) : withTag(rest);
    const hosts = host ? [host] : (await r.api.hosts.list()).filter((h) => h.connected).map((h) => ({ id: h.id, name: h.name }));
    if (!hosts.length) throw new DockerApiError(503, "no linked host to pull on");
    const write = progressWriter(r);
    const failures: string[] = [];
    const queue = [...hosts];
    const worker = async () => {
      for (let h = queue.shift(); h; h = queue.shift()) {
        write({ status: `Pulling ${reference}`, id: h.name });
        try {
          const image = await r.api.images.pull({ hostId: h.id, reference, ...(platform ? { platform } : {}) });
          write({ status: `Pulled ${image.repoDigests[0] ?? image.id}`, id: h.name });
        } catch (e) {
          failures.push(`${h.name}: ${(e as Error).message}`);
          write({ status: "Failed", id: h.name });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PULL_CONCURRENCY, hosts.length) }, worker));
    if (failures.length) {
      const message = `pull of ${reference} failed on ${failures.length} of ${hosts.length} host(s): ${failures.join("; ")}`;
      write({ errorDetail: { message }, error: message });
    } else write({ status: `Status: pulled ${reference} on ${hosts.length} host(s)` });
    r.res.end();
  });
}
