// RUN as a build step: its command (exec, shell or heredoc form), its mounts and network, the ARG
// values it sees, and a cache key that holds what its bind mounts show (never a secret's value).
import { join } from "node:path";
import { PROXY_ARGS, contextPath, short, type Build, type StageRun } from "./builder.ts";
import type { Instruction } from "./dockerfile.ts";
import { dockerfileError } from "./errors.ts";
import { DEFAULT_SHELL } from "./metadata.ts";
import { parseRunMount, runStep, type RunMount } from "./run-step.ts";
import { commitState, ensureImage, type BuildState } from "./state.ts";
import { processWord } from "./words.ts";

export async function runInstruction(b: Build, run: StageRun, ins: Instruction): Promise<void> {
  const cfg = run.state.config.config ?? {};
  const shell = cfg.Shell ?? DEFAULT_SHELL;
  const vars = b.vars(run);
  let argv: string[];
  if (ins.json) argv = ins.json;
  else if (ins.heredocs.length && /^<<-?["']?[A-Za-z0-9_]+["']?$/.test(ins.args.trim())) argv = [...shell, ins.heredocs[0]!.content];
  else argv = [...shell, ins.args + ins.heredocs.map((h) => `\n${h.content}${h.name}`).join("")];
  const workdir = cfg.WorkingDir || "/";
  const mounts: RunMount[] = (ins.flags.get("mount") ?? []).map((m) => parseRunMount(processWord(m, vars, b.escape), ins.line, workdir));
  const security = ins.flags.get("security")?.at(-1);
  if (security && security !== "sandbox")
    throw dockerfileError(ins.line, `RUN --security=${security} needs an entitlement that Berth does not grant`);
  const network = ins.flags.get("network")?.at(-1) ?? b.req.network;
  if (!["default", "none", "host"].includes(network))
    throw dockerfileError(ins.line, `network mode ${JSON.stringify(network)} not supported by the build`);
  // ARG values reach the command's environment; ENV of the same name wins.
  const envNames = new Set((cfg.Env ?? []).map((e) => e.split("=", 1)[0]!));
  const argEnv = [...run.args]
    .filter(([k]) => !envNames.has(k))
    .map(([k, v]) => `${k}=${v}`)
    .sort();
  const proxies = PROXY_ARGS.flatMap((k) => {
    const v = b.given(k);
    return v !== undefined && !envNames.has(k) && !run.args.has(k) ? [`${k}=${v}`] : [];
  });
  const createdBy = argEnv.length ? `|${argEnv.length} ${argEnv.join(" ")} ${argv.join(" ")}` : argv.join(" ");
  // A secret's value is not part of the key (as in BuildKit); what a bind mount shows is.
  const bindKeys = await Promise.all(
    mounts.map(async (m) => {
      if (m.type !== "bind") return null;
      if (!m.from) return b.ctx.digest(await b.ctx.resolve(contextPath(m.source)));
      const stage = b.stageRef(m.from, run.stage.index);
      return stage ? (await b.stageResult(stage.index)).id : (await b.image(m.from)).id;
    }),
  );
  run.state = await b.cached(run, ["RUN", argv, argEnv, mounts, bindKeys, network], async () => {
    const image = await ensureImage(b.deps.images, run.state);
    const bindSources = new Map<string, string>();
    const runIt = async (): Promise<BuildState> => {
      const layer = await runStep(
        { containers: b.deps.containers, images: b.deps.images, cacheMountDir: join(b.deps.stateDir, "build-cache-mounts") },
        {
          imageId: image.id,
          parentDiffIds: image.config.rootfs.diff_ids,
          argv,
          env: [...argEnv, ...proxies],
          network: network === "default" ? "" : network,
          mounts,
          secrets: b.req.secrets ?? new Map(),
          bindSources,
          buildId: b.id,
          signal: b.abort.signal,
          onStarted: (id) => b.out.stream(` ---> Running in ${short(id)}\n`),
          onOutput: (text) => b.out.stream(text),
        },
      );
      return commitState(b.deps.images, image, cfg, createdBy, layer);
    };
    // Bind mounts from other stages or images stay mounted while the command runs.
    const binds = mounts.filter((m): m is Extract<RunMount, { type: "bind" }> => m.type === "bind");
    const withBinds = async (i: number): Promise<BuildState> => {
      const bind = binds[i];
      if (!bind) return runIt();
      if (!bind.from) {
        bindSources.set(bind.target, await b.ctx.path(contextPath(bind.source)));
        return withBinds(i + 1);
      }
      return b.withTree(run, bind.from, async (tree) => {
        bindSources.set(bind.target, await tree.path(bind.source));
        return withBinds(i + 1);
      });
    };
    return withBinds(0);
  });
}
