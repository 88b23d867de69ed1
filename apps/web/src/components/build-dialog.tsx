"use client";
import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { bytesToBase64 } from "../client/base64";
import { useTRPC } from "../client/trpc";
import { Button, Dialog, ErrorBox } from "./ui";

const input = "mt-1 block w-full rounded-md border border-slate-300 px-3 py-1.5";

/** `KEY=value` lines as an object; blank lines are skipped. */
function parseArgs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t) continue;
    const eq = t.indexOf("=");
    if (eq <= 0) throw new Error(`build arg "${t}" is not KEY=value`);
    out[t.slice(0, eq)] = t.slice(eq + 1);
  }
  return out;
}

/**
 * Starts a build on a host: from a git repository (URL, ref, the context's directory, and
 * credentials kept encrypted), or from a Dockerfile written here plus files picked from this
 * computer. Opens the build's page, where its log streams live.
 */
export function BuildDialog({ hostId: fixedHost, onClose }: { hostId?: string; onClose(): void }) {
  const trpc = useTRPC();
  const router = useRouter();
  const hosts = useQuery(trpc.hosts.list.queryOptions(undefined, { enabled: !fixedHost }));
  const create = useMutation(trpc.builds.create.mutationOptions({ onSuccess: (b) => router.push(`/builds/${b.id}`) }));
  const [source, setSource] = useState<"git" | "upload">("git");
  const [formError, setFormError] = useState<string | null>(null);

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setFormError(null);
    const f = new FormData(e.currentTarget);
    const text = (k: string) => String(f.get(k) ?? "").trim();
    try {
      const hostId = fixedHost ?? text("host");
      const tags = text("tags")
        .split(/[\s,]+/)
        .filter(Boolean);
      const common = {
        hostId,
        tags,
        buildArgs: parseArgs(text("args")),
        dockerfile: text("dockerfile") || "Dockerfile",
        ...(text("target") ? { target: text("target") } : {}),
        noCache: f.get("noCache") === "on",
        pull: f.get("pull") === "on",
        push: f.get("push") === "on",
        secrets: text("secrets")
          .split(/[\s,]+/)
          .filter(Boolean),
      };
      if (source === "git") {
        create.mutate({
          ...common,
          source: {
            kind: "git",
            url: text("url"),
            ref: text("ref") || "HEAD",
            path: text("path").replace(/^\/+|\/+$/g, ""),
            ...(text("username") ? { username: text("username") } : {}),
            ...(String(f.get("password") ?? "") ? { password: String(f.get("password")) } : {}),
          },
        });
        return;
      }
      const archive = f.get("archive");
      if (archive instanceof File && archive.size > 0) {
        create.mutate({ ...common, source: { kind: "archive", data: bytesToBase64(new Uint8Array(await archive.arrayBuffer())) } });
        return;
      }
      const files: Array<{ path: string; data: string }> = [];
      const dockerfileText = String(f.get("dockerfileText") ?? "");
      if (dockerfileText.trim()) files.push({ path: common.dockerfile, data: bytesToBase64(new TextEncoder().encode(dockerfileText)) });
      for (const file of f.getAll("files")) {
        if (!(file instanceof File) || file.size === 0) continue;
        const path = (file as File & { webkitRelativePath?: string }).webkitRelativePath || file.name;
        files.push({ path, data: bytesToBase64(new Uint8Array(await file.arrayBuffer())) });
      }
      if (files.length === 0) throw new Error("write a Dockerfile or pick files to build");
      create.mutate({ ...common, source: { kind: "upload", files } });
    } catch (err) {
      setFormError(err instanceof Error ? err.message : String(err));
    }
  }

  return (
    <Dialog title="Build an image" width="max-w-2xl" onClose={onClose}>
      <form onSubmit={(e) => void onSubmit(e)} className="grid gap-3 text-sm md:grid-cols-2">
        <div className="md:col-span-2">
          <ErrorBox error={create.error ?? (formError ? { message: formError } : null)} />
        </div>
        {!fixedHost && (
          <label className="md:col-span-2">
            Host
            <select name="host" aria-label="Host" required className={input}>
              {(hosts.data ?? []).map((h) => (
                <option key={h.id} value={h.id} disabled={!h.connected}>
                  {h.name}
                  {h.connected ? "" : " (offline)"}
                </option>
              ))}
            </select>
          </label>
        )}
        <fieldset className="flex gap-4 md:col-span-2">
          <label className="flex items-center gap-1.5">
            <input type="radio" name="source" checked={source === "git"} onChange={() => setSource("git")} /> From git
          </label>
          <label className="flex items-center gap-1.5">
            <input type="radio" name="source" checked={source === "upload"} onChange={() => setSource("upload")} /> From files
          </label>
        </fieldset>
        {source === "git" ? (
          <>
            <label className="md:col-span-2">
              Repository URL
              <input
                name="url"
                required
                aria-label="Repository URL"
                placeholder="https://git.example.com/team/app.git"
                className={`${input} font-mono`}
              />
            </label>
            <label>
              Ref
              <input name="ref" aria-label="Ref" placeholder="main" className={`${input} font-mono`} />
            </label>
            <label>
              Context directory
              <input name="path" aria-label="Context directory" placeholder="(the repository's root)" className={`${input} font-mono`} />
            </label>
            <label>
              Username
              <input name="username" aria-label="Username" autoComplete="off" className={input} />
            </label>
            <label>
              Password or token
              <input name="password" type="password" aria-label="Password or token" autoComplete="off" className={input} />
            </label>
          </>
        ) : (
          <>
            <label className="md:col-span-2">
              Dockerfile
              <textarea
                name="dockerfileText"
                aria-label="Dockerfile text"
                rows={6}
                className={`${input} font-mono`}
                placeholder={"FROM busybox\nCOPY . /app\n"}
              />
            </label>
            <label className="md:col-span-2">
              Files for the context (up to 3 MiB in all; larger contexts build from git)
              <input name="files" type="file" multiple aria-label="Context files" className="mt-1 block w-full text-sm" />
            </label>
            <label className="md:col-span-2">
              Or the whole context as one tarball (.tar, .tar.gz)
              <input
                name="archive"
                type="file"
                accept=".tar,.tgz,.tar.gz,application/x-tar,application/gzip"
                aria-label="Context tarball"
                className="mt-1 block w-full text-sm"
              />
            </label>
          </>
        )}
        <label>
          Tags
          <input name="tags" aria-label="Tags" placeholder="app:1.0 registry.example.com/app:1.0" className={`${input} font-mono`} />
        </label>
        <label>
          Dockerfile path
          <input name="dockerfile" aria-label="Dockerfile path" placeholder="Dockerfile" className={`${input} font-mono`} />
        </label>
        <label>
          Target stage
          <input name="target" aria-label="Target stage" className={`${input} font-mono`} />
        </label>
        <label>
          Build args (KEY=value, one a line)
          <textarea name="args" aria-label="Build args" rows={2} className={`${input} font-mono`} />
        </label>
        <label className="md:col-span-2">
          Secrets for RUN --mount=type=secret,id=NAME (the team's secrets, by name)
          <input name="secrets" aria-label="Build secrets" className={`${input} font-mono`} />
        </label>
        <div className="flex gap-4 md:col-span-2">
          <label className="flex items-center gap-1.5">
            <input type="checkbox" name="noCache" /> No cache
          </label>
          <label className="flex items-center gap-1.5">
            <input type="checkbox" name="pull" /> Always pull base images
          </label>
          <label className="flex items-center gap-1.5">
            <input type="checkbox" name="push" /> Push the first tag to the team's registry
          </label>
        </div>
        <div className="md:col-span-2">
          <Button type="submit" disabled={create.isPending}>
            Build
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
