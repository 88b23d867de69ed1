"use client";
import { useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "../client/trpc";
import { Button, Dialog, ErrorBox } from "./ui";

const input = "w-full rounded-md border border-slate-300 px-3 py-1.5 font-mono text-sm";

/** `docker network create` from the browser: a bridge network with optional addressing, internal and ICC. */
export function NetworkDialog({ hostId, onClose }: { hostId: string; onClose(): void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [subnet, setSubnet] = useState("");
  const [gateway, setGateway] = useState("");
  const [ipRange, setIpRange] = useState("");
  const [internal, setInternal] = useState(false);
  const [icc, setIcc] = useState(true);
  const create = useMutation(
    trpc.networks.create.mutationOptions({
      onSuccess: () => {
        void queryClient.invalidateQueries({ queryKey: trpc.networks.list.queryKey({ hostId }) });
        onClose();
      },
    }),
  );
  // Empty fields are left out, so the agent picks a free subnet and its first address as gateway.
  const optional = (key: "subnet" | "gateway" | "ipRange", v: string) => (v.trim() ? { [key]: v.trim() } : {});

  return (
    <Dialog title="Create a network" onClose={onClose}>
      <form
        className="space-y-3"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate({
            hostId,
            name: name.trim(),
            internal,
            icc,
            ...optional("subnet", subnet),
            ...optional("gateway", gateway),
            ...optional("ipRange", ipRange),
          });
        }}
      >
        <label className="block text-sm">
          Name
          <input aria-label="Network name" className={input} value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <div className="flex gap-3">
          <label className="block flex-1 text-sm">
            Subnet (empty for a free one)
            <input
              aria-label="Subnet"
              className={input}
              value={subnet}
              onChange={(e) => setSubnet(e.target.value)}
              placeholder="10.90.0.0/24"
            />
          </label>
          <label className="block flex-1 text-sm">
            Gateway
            <input
              aria-label="Gateway"
              className={input}
              value={gateway}
              onChange={(e) => setGateway(e.target.value)}
              placeholder="10.90.0.1"
            />
          </label>
          <label className="block flex-1 text-sm">
            IP range
            <input
              aria-label="IP range"
              className={input}
              value={ipRange}
              onChange={(e) => setIpRange(e.target.value)}
              placeholder="10.90.0.128/25"
            />
          </label>
        </div>
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={internal} onChange={(e) => setInternal(e.target.checked)} />
          Internal (no route out of the host)
        </label>
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={icc} onChange={(e) => setIcc(e.target.checked)} />
          Containers on it may talk to each other (ICC)
        </label>
        <ErrorBox error={create.error} />
        <div className="flex justify-end gap-2">
          <Button type="button" variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" disabled={create.isPending}>
            {create.isPending ? "Creating…" : "Create"}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
