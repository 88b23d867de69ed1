// The Dockerfile builder: runs the stages a target needs (side by side where independent), each
// instruction as one cached step, and reports in the classic builder's stream ("Step i/n : …",
// " ---> Using cache", " ---> <id>", "Successfully built/tagged"). A step's cache key is its
// parent image, its instruction as evaluated, the ARG values it sees, and for COPY/ADD the
// contents of what it copies, never their times.
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join, posix } from "node:path";
import type { ContainerService } from "../containers/index.ts";
import type { ImageRecord, ImageService } from "../images/index.ts";
import { chainIds } from "../images/index.ts";
import { mountAll, unmount } from "../mount/index.ts";
import { formatReference, hostPlatform, parseReference, withDefaultTag } from "../registry/index.ts";
import { resolveUser } from "../runtime/index.ts";
import type { Snapshotter } from "../snapshots/index.ts";
import { BuildCache } from "./cache.ts";
import { DirTree } from "./dir-tree.ts";
import type { SourceTree } from "./source-tree.ts";
import type { TarContext } from "./tar-context.ts";
import { ensureDir, type Owner } from "./copy.ts";
import { parseDockerfile, parseTrigger, type Instruction, type Stage } from "./dockerfile.ts";
import { BuildError, dockerfileError } from "./errors.ts";
import { writeLayer } from "./layer-writer.ts";
import { applyMetadata, METADATA_INSTRUCTIONS, nopCreatedBy, type StageFlags } from "./metadata.ts";
import { copyStep } from "./copy-step.ts";
import { runInstruction } from "./run-instruction.ts";
import { commitState, ensureImage, scratchState, stateOf, type BuildState } from "./state.ts";
import { keyValues, processWord } from "./words.ts";

/** Build args Docker accepts without an ARG: they reach RUN but not the cache key or history. */
export const PROXY_ARGS = [
  "HTTP_PROXY",
  "http_proxy",
  "HTTPS_PROXY",
  "https_proxy",
  "FTP_PROXY",
  "ftp_proxy",
  "NO_PROXY",
  "no_proxy",
  "ALL_PROXY",
  "all_proxy",
];

export interface BuildRequest {
  /** The Dockerfile's path in the context. */
  dockerfile: string;
  tags: string[];
  /** --build-arg values; null is "not set" (the client had no value for it). */
  buildArgs: Record<string, string | null>;
  labels: Record<string, string>;
  target?: string;
  noCache: boolean;
  pull: boolean;
  /** The network RUN steps get: default (bridge), none or host. */
  network: string;
  platform?: string;
  /** RUN --mount=type=secret values by id (the control plane's builds send them; the classic API has none). */
  secrets?: ReadonlyMap<string, Buffer>;
  signal?: AbortSignal;
}

export interface BuildOutput {
  stream(text: string): void;
  /** The result's ID (Docker's aux message, which `--iidfile` reads). */
  aux(id: string): void;
}

export interface BuilderDeps {
  stateDir: string;
  images: ImageService;
  containers: ContainerService;
  snapshots: Snapshotter;
  /** Pulls a base image the host does not have (or every time with --pull). */
  pull(reference: string, out: BuildOutput): Promise<ImageRecord>;
}

export const short = (id: string) => id.replace(/^sha256:/, "").slice(0, 12);

/** A RUN --mount source in the context: rooted at the context, as BuildKit reads it. */
export const contextPath = (source: string) => source.replace(/^\/+/, "") || ".";

/** Everything one stage's steps share while it runs. */
export interface StageRun {
  stage: Stage;
  state: BuildState;
  /** ARG values in scope (declared in this stage, or global ones redeclared). */
  args: Map<string, string>;
  flags: StageFlags;
}

/** One build: its context, request, output and the results of its stages. */
export class Build {
  readonly id = randomBytes(8).toString("hex");
  readonly abort = new AbortController();
  readonly consumed = new Set<string>();
  private readonly results = new Map<number, Promise<BuildState>>();
  private readonly numbers = new Map<Instruction, number>();
  private total = 0;
  readonly globalArgs = new Map<string, string>();
  readonly workDir: string;

  constructor(
    readonly deps: BuilderDeps,
    readonly cache: BuildCache,
    readonly ctx: TarContext,
    readonly req: BuildRequest,
    readonly out: BuildOutput,
    readonly plan: ReturnType<typeof parseDockerfile>,
    buildsDir: string,
  ) {
    this.workDir = join(buildsDir, this.id);
    req.signal?.addEventListener("abort", () => this.abort.abort(), { once: true });
  }

  get escape(): string {
    return this.plan.escape;
  }

  /** A build arg's value as given, counting it as used. */
  given(name: string): string | undefined {
    if (!Object.hasOwn(this.req.buildArgs, name)) return undefined;
    this.consumed.add(name);
    return this.req.buildArgs[name] ?? undefined;
  }

  async run(): Promise<string> {
    await mkdir(this.workDir, { recursive: true, mode: 0o700 });
    try {
      for (const ins of this.plan.globalArgs) {
        for (const [k, def] of keyValues(ins.args, this.globalArgs, this.escape, { bareKeys: true })) {
          const v = this.given(k) ?? def;
          if (v !== undefined) this.globalArgs.set(k, v);
        }
      }
      const target = this.targetStage();
      const needed = this.neededStages(target);
      for (const s of this.plan.stages) {
        if (!needed.has(s.index)) continue;
        for (const ins of [s.from, ...s.steps]) this.numbers.set(ins, ++this.total);
      }
      for (const i of [...needed].sort((a, b) => a - b)) this.stageResult(i);
      let final = await this.stageResult(target.index);
      final = await this.applyLabels(final);
      const image = await ensureImage(this.deps.images, final);
      return image.id;
    } catch (e) {
      this.abort.abort();
      // Let the other stages stop before their work directory goes.
      await Promise.allSettled(this.results.values());
      throw e;
    } finally {
      await rm(this.workDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private targetStage(): Stage {
    if (!this.req.target) return this.plan.stages[this.plan.stages.length - 1]!;
    const t = this.plan.stages.find((s) => s.name === this.req.target!.toLowerCase());
    if (!t) throw new BuildError(`failed to reach build target ${this.req.target} in Dockerfile`, "INVALID");
    return t;
  }

  /** A stage by `--from`/FROM reference (name or index) among those before `before`, or null for an image. */
  stageRef(ref: string, before: number): Stage | null {
    const byName = this.plan.stages.find((s) => s.name === ref.toLowerCase());
    if (byName) return byName.index < before ? byName : null;
    if (/^\d+$/.test(ref)) {
      const i = Number(ref);
      if (i >= before) throw new BuildError(`invalid stage index ${ref}: only earlier stages can be used`, "INVALID");
      return this.plan.stages[i] ?? null;
    }
    return null;
  }

  /** The stages the target depends on, through FROM and --from (COPY, RUN --mount). */
  private neededStages(target: Stage): Set<number> {
    const needed = new Set<number>();
    const visit = (s: Stage) => {
      if (needed.has(s.index)) return;
      needed.add(s.index);
      const base = this.stageRef(processWord(s.base, this.globalArgs, this.escape), s.index);
      if (base) visit(base);
      for (const ins of s.steps) {
        const refs = [...(ins.flags.get("from") ?? [])];
        for (const m of ins.flags.get("mount") ?? []) {
          const from = /(?:^|,)from=([^,]+)/.exec(m)?.[1];
          if (from) refs.push(from);
        }
        for (const r of refs) {
          const dep = this.stageRef(r, s.index);
          if (dep) visit(dep);
        }
      }
    };
    visit(target);
    return needed;
  }

  stageResult(index: number): Promise<BuildState> {
    let p = this.results.get(index);
    if (!p) {
      p = this.runStage(this.plan.stages[index]!);
      p.catch(() => this.abort.abort());
      this.results.set(index, p);
    }
    return p;
  }

  private checkAborted(): void {
    if (this.abort.signal.aborted) throw new BuildError("the build was cancelled", "FAILED");
  }

  private async runStage(stage: Stage): Promise<BuildState> {
    this.checkAborted();
    const from = stage.from;
    this.out.stream(`Step ${this.numbers.get(from)}/${this.total} : FROM ${from.args}\n`);
    const run: StageRun = { stage, state: await this.base(stage), args: new Map(), flags: { cmdSet: false } };
    this.out.stream(` ---> ${run.state.id ? short(run.state.id) : "scratch"}\n`);
    await this.runTriggers(run);
    for (const ins of stage.steps) {
      this.checkAborted();
      this.out.stream(
        `Step ${this.numbers.get(ins)}/${this.total} : ${ins.keyword} ${ins.args}${ins.heredocs.map((h) => `\n${h.content}${h.name}`).join("")}\n`,
      );
      await this.step(run, ins);
    }
    return run.state;
  }

  /** FROM: scratch, an earlier stage, or an image (pulled when missing, or always with --pull). */
  private async base(stage: Stage): Promise<BuildState> {
    const name = processWord(stage.base, this.globalArgs, this.escape);
    if (!name) throw dockerfileError(stage.from.line, "base name (" + stage.base + ") should not be blank");
    const platform = stage.from.flags.get("platform")?.at(-1);
    this.checkPlatform(platform ? processWord(platform, this.globalArgs, this.escape) : this.req.platform, stage.from.line);
    if (name.toLowerCase() === "scratch") return scratchState();
    const earlier = this.stageRef(name, stage.index);
    if (earlier) return this.stageResult(earlier.index);
    return stateOf(this.deps.images, await this.image(name));
  }

  private checkPlatform(platform: string | undefined, line: number): void {
    if (!platform) return;
    const host = hostPlatform();
    const [os, arch] = platform.toLowerCase().split("/");
    if (os !== host.os || (arch !== undefined && arch !== host.architecture)) {
      throw dockerfileError(line, `this host builds for ${host.os}/${host.architecture} only; ${platform} was asked for`);
    }
  }

  async image(name: string): Promise<ImageRecord> {
    if (!this.req.pull) {
      try {
        return this.deps.images.resolve(name);
      } catch {
        // not here: pull it
      }
    }
    return this.deps.pull(name, this.out);
  }

  /** The base image's ONBUILD triggers run first, and the new image does not inherit them. */
  private async runTriggers(run: StageRun): Promise<void> {
    const triggers = run.state.config.config?.OnBuild ?? [];
    if (triggers.length === 0) return;
    this.out.stream(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? "s" : ""}\n`);
    for (const t of triggers) await this.step(run, parseTrigger(t, run.stage.from.line));
    const cfg = { ...(run.state.config.config ?? {}), OnBuild: null };
    run.state = await this.cached(run, ["ONBUILD-CLEAR"], () =>
      commitState(this.deps.images, run.state, cfg, nopCreatedBy(run.stage.from, "(triggers ran)"), null),
    );
  }

  /** ARG and ENV values for substitution, ENV winning. */
  vars(run: StageRun): Map<string, string> {
    const v = new Map(run.args);
    for (const e of run.state.config.config?.Env ?? []) {
      const eq = e.indexOf("=");
      v.set(eq < 0 ? e : e.slice(0, eq), eq < 0 ? "" : e.slice(eq + 1));
    }
    return v;
  }

  /** Looks a step up in the cache, or runs it and records it there. */
  async cached(run: StageRun, keyParts: unknown[], make: () => Promise<BuildState>): Promise<BuildState> {
    const key = BuildCache.key([run.state.id ?? "scratch", ...keyParts]);
    if (!this.req.noCache) {
      const hit = this.cache.get(key);
      if (hit) {
        this.out.stream(" ---> Using cache\n");
        this.out.stream(` ---> ${short(hit)}\n`);
        return stateOf(this.deps.images, this.deps.images.resolve(hit));
      }
    }
    const next = await make();
    const withId = await ensureImage(this.deps.images, next);
    this.cache.set(key, withId.id);
    this.out.stream(` ---> ${short(withId.id)}\n`);
    return withId;
  }

  private async step(run: StageRun, ins: Instruction): Promise<void> {
    if (ins.keyword === "ARG") return this.arg(run, ins);
    if (METADATA_INSTRUCTIONS.has(ins.keyword)) {
      const { config, shown } = applyMetadata(run.state.config.config ?? {}, ins, this.vars(run), this.escape, run.flags);
      const author = ins.keyword === "MAINTAINER" ? shown : undefined;
      // Whether CMD was set in this stage decides what ENTRYPOINT leaves of an inherited CMD.
      run.state = await this.cached(run, [ins.keyword, shown, run.flags.cmdSet], () =>
        commitState(this.deps.images, run.state, config, nopCreatedBy(ins, shown), null, author ? { author } : {}),
      );
      return;
    }
    switch (ins.keyword) {
      case "WORKDIR":
        return this.workdir(run, ins);
      case "RUN":
        return runInstruction(this, run, ins);
      case "COPY":
      case "ADD":
        return copyStep(this, run, ins);
      default:
        throw dockerfileError(ins.line, `unknown instruction: ${ins.keyword}`);
    }
  }

  private arg(run: StageRun, ins: Instruction): void {
    for (const [k, def] of keyValues(ins.args, this.vars(run), this.escape, { bareKeys: true })) {
      const v = this.given(k) ?? def ?? this.globalArgs.get(k);
      if (v !== undefined) run.args.set(k, v);
      else run.args.delete(k);
    }
    if (run.state.id) this.out.stream(` ---> ${short(run.state.id)}\n`);
  }

  /** Resolves `--chown` (names through the image's /etc/passwd and /etc/group), or root. */
  async owner(rootfs: string, chown: string | undefined): Promise<Owner> {
    if (!chown) return { uid: 0, gid: 0 };
    const [u, g] = chown.split(":", 2) as [string, string | undefined];
    const uid = /^\d+$/.test(u) ? Number(u) : (await resolveUser(rootfs, u)).uid;
    const gid = g === undefined ? uid : /^\d+$/.test(g) ? Number(g) : (await resolveUser(rootfs, `0:${g}`)).gid;
    return { uid, gid };
  }

  private async workdir(run: StageRun, ins: Instruction): Promise<void> {
    const dir = processWord(ins.args, this.vars(run), this.escape);
    if (!dir) throw dockerfileError(ins.line, "WORKDIR requires exactly one argument");
    const path = posix.resolve(run.state.config.config?.WorkingDir || "/", dir);
    const user = run.state.config.config?.User ?? "";
    const config = { ...(run.state.config.config ?? {}), WorkingDir: path };
    run.state = await this.cached(run, ["WORKDIR", path, user], async () => {
      const layer = await writeLayer(this.layerDeps(), run.state.config.rootfs.diff_ids, async (root) => {
        const owner = user ? await resolveUser(root, user).then((u) => ({ uid: u.uid, gid: u.gid })) : { uid: 0, gid: 0 };
        await ensureDir(root, path, owner);
      });
      return commitState(this.deps.images, run.state, config, nopCreatedBy(ins, path), layer);
    });
  }

  layerDeps() {
    return { snapshots: this.deps.snapshots, images: this.deps.images, workDir: this.workDir };
  }

  /**
   * Mounts an image's or a stage's filesystem read-only for `fn` (COPY --from, RUN --mount=from).
   * A name that is no stage is an image, pulled when missing.
   */
  async withTree<T>(run: StageRun, ref: string, fn: (tree: SourceTree) => Promise<T>): Promise<T> {
    const stage = this.stageRef(ref, run.stage.index);
    const state = stage ? await this.stageResult(stage.index) : await stateOf(this.deps.images, await this.image(ref));
    const top = chainIds(state.config.rootfs.diff_ids).at(-1);
    const key = `build-view-${randomBytes(8).toString("hex")}`;
    const dir = join(this.workDir, key);
    const mounts = await this.deps.snapshots.view(key, top);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await mountAll(mounts, dir);
      try {
        return await fn(new DirTree(dir));
      } finally {
        await unmount(dir).catch(() => unmount(dir, { detach: true }));
      }
    } finally {
      await this.deps.snapshots.remove(key).catch(() => undefined);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** --label values go on the result as a last step, as the classic builder adds them. */
  private async applyLabels(state: BuildState): Promise<BuildState> {
    const entries = Object.entries(this.req.labels);
    if (entries.length === 0) return state;
    const config = { ...(state.config.config ?? {}), Labels: { ...(state.config.config?.Labels ?? {}), ...this.req.labels } };
    const shown = entries.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ");
    const run: StageRun = { stage: this.plan.stages[0]!, state, args: new Map(), flags: { cmdSet: false } };
    return this.cached(run, ["LABEL", shown], () =>
      commitState(this.deps.images, state, config, `/bin/sh -c #(nop)  LABEL ${shown}`, null),
    );
  }
}

export class Builder {
  readonly cache: BuildCache;
  private readonly buildsDir: string;

  constructor(private readonly deps: BuilderDeps) {
    this.cache = new BuildCache(deps.stateDir, (id) => deps.images.has(id));
    this.buildsDir = join(deps.stateDir, "builds");
  }

  /** A directory for one build's context; the caller removes it when the build ends. */
  async contextDir(): Promise<string> {
    const dir = join(this.buildsDir, `context-${randomBytes(8).toString("hex")}`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /** Builds `req` from `ctx`, streaming the classic builder's messages; resolves with the image ID. */
  async build(ctx: TarContext, req: BuildRequest, out: BuildOutput): Promise<string> {
    const tags = req.tags.map((t) => {
      let ref: ReturnType<typeof parseReference>;
      try {
        ref = parseReference(t);
      } catch {
        throw new BuildError(`invalid reference format: ${t}`, "INVALID");
      }
      if (ref.digest) throw new BuildError(`invalid tag ${t}: a tag cannot have a digest`, "INVALID");
      return { given: t, full: formatReference(withDefaultTag(ref)) };
    });
    const plan = parseDockerfile(await ctx.dockerfile(req.dockerfile));
    const build = new Build(this.deps, this.cache, ctx, req, out, plan, this.buildsDir);
    const id = await build.run();
    const unused = Object.keys(req.buildArgs).filter((k) => !build.consumed.has(k) && !PROXY_ARGS.includes(k));
    if (unused.length) out.stream(`[Warning] One or more build-args [${unused.join(" ")}] were not consumed\n`);
    this.deps.images.setBuildCache(id, false);
    out.aux(id);
    out.stream(`Successfully built ${short(id)}\n`);
    for (const t of tags) {
      this.deps.images.tag(id, t.full);
      out.stream(`Successfully tagged ${t.full}\n`);
    }
    return id;
  }

  /** `docker builder prune`: the cached steps' images no container uses, and the cache mounts. */
  async prune(opts: { all?: boolean } = {}): Promise<{ deleted: string[]; space: number }> {
    const r = await this.deps.images.pruneBuildCache();
    this.cache.forgetMissing();
    if (opts.all) await rm(join(this.deps.stateDir, "build-cache-mounts"), { recursive: true, force: true });
    return r;
  }
}
