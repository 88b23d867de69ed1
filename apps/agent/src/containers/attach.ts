import { PassThrough, type Readable, type Writable } from "node:stream";
import { attachRelay, type AttachFrame, type AttachRelay } from "../runtime/index.ts";

export interface AttachOptions {
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
}

/** One client attached to a container's stdio (`docker attach`, `docker run -a`, `docker start -a`). */
export interface AttachSession {
  /** The container's output as frames, in order; ends when the container stops or the client detaches. */
  output: Readable;
  /** The container's stdin, when asked for and the container keeps stdin open (OpenStdin). */
  stdin: Writable | null;
  /** Resolves once output flows: at once for a running container, at its next start otherwise. */
  attached: Promise<void>;
  detach(): void;
}

interface Client {
  opts: AttachOptions;
  output: PassThrough;
  stdin: PassThrough | null;
  relay?: AttachRelay;
  markAttached: () => void;
  failAttach: (e: Error) => void;
  closed: boolean;
}

/**
 * The attach clients of one agent's containers. A client of a running container connects to its
 * conmon at once; a client of a container that is not running waits for its next start, and is
 * connected after the runtime has created the container and before it starts it, so not one byte
 * of output is missed (this is how `docker run` without -d sees everything).
 */
export class AttachHub {
  private readonly waiting = new Map<string, Set<Client>>();

  constructor(private readonly python = "/usr/bin/python3") {}

  open(id: string, bundle: string, running: boolean, openStdin: boolean, opts: AttachOptions): AttachSession {
    const output = new PassThrough({ objectMode: true, highWaterMark: 256 });
    const stdin = opts.stdin && openStdin ? new PassThrough() : null;
    let markAttached!: () => void;
    let failAttach!: (e: Error) => void;
    const attached = new Promise<void>((res, rej) => {
      markAttached = res;
      failAttach = rej;
    });
    attached.catch(() => undefined);
    const client: Client = { opts, output, stdin, markAttached, failAttach, closed: false };
    const detach = () => {
      if (client.closed) return;
      client.closed = true;
      this.waiting.get(id)?.delete(client);
      client.relay?.stop();
      output.end();
    };
    output.on("close", detach);
    if (running) this.connect(client, bundle);
    else {
      const set = this.waiting.get(id) ?? new Set<Client>();
      set.add(client);
      this.waiting.set(id, set);
    }
    return { output, stdin, attached, detach };
  }

  /** Connects the clients waiting for this container; called between the runtime's create and start. */
  async connectWaiting(id: string, bundle: string): Promise<void> {
    const set = this.waiting.get(id);
    if (!set?.size) return;
    this.waiting.delete(id);
    await Promise.all([...set].map((c) => this.connect(c, bundle).catch(() => undefined)));
  }

  /** The container is gone: waiting clients are told so. */
  drop(id: string): void {
    for (const c of this.waiting.get(id) ?? []) {
      c.closed = true;
      c.failAttach(new Error("the container was removed"));
      c.output.end();
    }
    this.waiting.delete(id);
  }

  private async connect(client: Client, bundle: string): Promise<void> {
    if (client.closed) return;
    const relay = attachRelay({ python: this.python, bundle, stdin: client.stdin !== null });
    client.relay = relay;
    const wantOut = client.opts.stdout !== false;
    const wantErr = client.opts.stderr !== false;
    relay.onFrame((f: AttachFrame) => {
      if (client.closed || (f.stream === "stdout" ? !wantOut : !wantErr)) return;
      // A client that does not read holds the relay back (and, through conmon, only itself).
      if (!client.output.write(f) && !relay.child.stdout!.isPaused()) {
        relay.child.stdout!.pause();
        client.output.once("drain", () => relay.child.stdout!.resume());
      }
    });
    void relay.ended.then(() => {
      client.closed = true;
      client.output.end();
    });
    try {
      await relay.connected;
    } catch (e) {
      client.failAttach(e as Error);
      client.closed = true;
      client.output.end();
      throw e;
    }
    if (client.stdin) client.stdin.pipe(relay.input);
    client.markAttached();
  }
}
