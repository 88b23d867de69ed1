/**
 * The agent's end of one stream channel (see the stream frames in @berth/protocol). A source
 * awaits `send` for each frame: it resolves once the control plane has granted credit, so a
 * source that reads a file or a pipe simply reads slower when the reader at the far end does.
 */
export interface StreamChannel<T = unknown> {
  /** Sends one data frame, waiting for credit first. Resolves false once the stream is closed. */
  send(data: T): Promise<boolean>;
  /** Aborted when the control plane closes the stream or the link drops. */
  readonly signal: AbortSignal;
  /** Input from the far end (exec keystrokes and resizes). */
  onInput(handler: (input: StreamInput) => void): void;
}

export interface StreamInput {
  data?: string;
  resize?: { cols: number; rows: number };
  eof?: true;
}

export type StreamHandler = (args: unknown, channel: StreamChannel) => Promise<void>;

export class LinkStream implements StreamChannel {
  private credit: number;
  private waiter: (() => void) | null = null;
  private readonly abort = new AbortController();
  private inputHandler: ((input: StreamInput) => void) | null = null;
  /** Input that arrived before the source installed its handler. */
  private early: StreamInput[] = [];

  constructor(
    credit: number,
    private readonly write: (data: unknown) => void,
  ) {
    this.credit = credit;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  async send(data: unknown): Promise<boolean> {
    while (this.credit <= 0 && !this.abort.signal.aborted) await new Promise<void>((r) => (this.waiter = r));
    if (this.abort.signal.aborted) return false;
    this.credit--;
    this.write(data);
    return true;
  }

  grant(n: number): void {
    this.credit += n;
    this.wake();
  }

  input(input: StreamInput): void {
    if (this.inputHandler) this.inputHandler(input);
    else if (this.early.length < 256) this.early.push(input);
  }

  onInput(handler: (input: StreamInput) => void): void {
    this.inputHandler = handler;
    for (const i of this.early.splice(0)) handler(i);
  }

  close(): void {
    this.abort.abort();
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
}
