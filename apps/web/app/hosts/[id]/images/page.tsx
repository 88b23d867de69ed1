"use client";
import { use, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "../../../../src/client/trpc";
import { AppShell } from "../../../../src/components/app-shell";
import { HostTabs } from "../../../../src/components/host-tabs";
import { PullDialog } from "../../../../src/components/pull-dialog";
import { BuildDialog } from "../../../../src/components/build-dialog";
import { Button, ErrorBox, Spinner, TableHead } from "../../../../src/components/ui";
import { formatAgo, formatBytes } from "../../../../src/components/format";
import { useHostAccess } from "../../../../src/components/use-host-access";

function ImagesTab({ hostId }: { hostId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [pulling, setPulling] = useState(false);
  const [building, setBuilding] = useState(false);
  const { host, canOperate: canChange } = useHostAccess(hostId);
  const images = useQuery(trpc.images.list.queryOptions({ hostId }, { enabled: host.data?.connected === true }));
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.images.list.queryKey({ hostId }) });
  const remove = useMutation(trpc.images.remove.mutationOptions({ onSuccess: refresh }));
  const tag = useMutation(trpc.images.tag.mutationOptions({ onSuccess: refresh }));
  const prune = useMutation(trpc.images.prune.mutationOptions({ onSuccess: refresh }));

  // One row per tag, as `docker images` shows them; untagged images get one <none> row.
  const rows = (images.data ?? []).flatMap((img) => (img.RepoTags.length ? img.RepoTags : ["<none>:<none>"]).map((t) => ({ tag: t, img })));

  return (
    <div className="space-y-4">
      <div className="flex items-center gap-3">
        <h1 className="text-2xl font-semibold">{host.data?.name ?? "…"}</h1>
        <div className="ml-auto flex gap-2">
          {canChange && (
            <>
              <Button variant="secondary" disabled={prune.isPending || !host.data?.connected} onClick={() => prune.mutate({ hostId })}>
                Prune dangling
              </Button>
              <Button variant="secondary" disabled={!host.data?.connected} onClick={() => setBuilding(true)}>
                Build image
              </Button>
              <Button disabled={!host.data?.connected} onClick={() => setPulling(true)}>
                Pull image
              </Button>
            </>
          )}
        </div>
      </div>
      <HostTabs hostId={hostId} />
      <ErrorBox
        error={images.error ?? remove.error ?? tag.error ?? prune.error}
        onRetry={images.isError ? () => void images.refetch() : undefined}
      />
      {host.data && !host.data.connected && (
        <p className="text-sm text-slate-500">The host is offline; its images show when it reconnects.</p>
      )}
      {images.isPending && host.data?.connected && <Spinner label="Loading images…" />}
      {images.data && rows.length === 0 && (
        <div className="rounded-lg border-2 border-dashed border-slate-300 p-10 text-center text-sm text-slate-500">
          No images on this host yet. Pull one to get started.
        </div>
      )}
      {rows.length > 0 && (
        <div className="overflow-x-auto rounded-lg bg-white shadow-sm ring-1 ring-slate-200">
          <table className="min-w-full divide-y divide-slate-200 text-sm">
            <TableHead variant="page" columns={["Repository", "Tag", "Image ID", "Created", "Size", ""]} />
            <tbody className="divide-y divide-slate-100">
              {rows.map(({ tag: t, img }) => {
                const i = t.lastIndexOf(":");
                return (
                  <tr key={`${img.Id}-${t}`} data-testid="image-row" data-tag={t}>
                    <td className="px-4 py-2 font-mono text-xs">{t.slice(0, i)}</td>
                    <td className="px-4 py-2 font-mono text-xs">{t.slice(i + 1)}</td>
                    <td className="px-4 py-2 font-mono text-xs">{img.Id.slice(7, 19)}</td>
                    <td className="px-4 py-2 text-slate-500">{formatAgo(new Date(img.Created * 1000))}</td>
                    <td className="px-4 py-2">{formatBytes(img.Size)}</td>
                    <td className="space-x-2 px-4 py-2 text-right">
                      {canChange && (
                        <>
                          <Button
                            variant="secondary"
                            onClick={() => {
                              const target = prompt(`New tag for ${t === "<none>:<none>" ? img.Id.slice(7, 19) : t}`, "");
                              if (target) tag.mutate({ hostId, source: t === "<none>:<none>" ? img.Id : t, target });
                            }}
                          >
                            Tag
                          </Button>
                          <Button
                            variant="danger"
                            onClick={() => {
                              if (confirm(`Remove ${t}?`))
                                remove.mutate({ hostId, name: t === "<none>:<none>" ? img.Id : t, force: false });
                            }}
                          >
                            Remove
                          </Button>
                        </>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {pulling && <PullDialog hostId={hostId} onClose={() => setPulling(false)} />}
      {building && <BuildDialog hostId={hostId} onClose={() => setBuilding(false)} />}
    </div>
  );
}

export default function HostImagesPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  return (
    <AppShell>
      <ImagesTab hostId={id} />
    </AppShell>
  );
}
