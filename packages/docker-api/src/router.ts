/** A route's handler: `C` is the endpoint's request context (the agent's and the control plane's differ). */
export type Handler<C> = (ctx: C) => Promise<void> | void;

interface Route<C> {
  method: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler<C>;
}

/**
 * Method + path templates as the Engine API writes them: `/containers/{id}/start`. `{name*}`
 * matches across slashes, for image names such as `registry:5000/team/app` in `/images/{name*}/json`.
 */
export class Router<C> {
  private readonly routes: Route<C>[] = [];

  add(method: string, template: string, handler: Handler<C>): this {
    const keys: string[] = [];
    const source = template.replace(/[.+?^$()[\]\\|]/g, "\\$&").replace(/\{(\w+)(\*?)\}/g, (_, key: string, greedy: string) => {
      keys.push(key);
      return greedy ? "(.+)" : "([^/]+)";
    });
    this.routes.push({ method, pattern: new RegExp(`^${source}$`), keys, handler });
    return this;
  }

  get = (t: string, h: Handler<C>) => this.add("GET", t, h);
  post = (t: string, h: Handler<C>) => this.add("POST", t, h);
  put = (t: string, h: Handler<C>) => this.add("PUT", t, h);
  head = (t: string, h: Handler<C>) => this.add("HEAD", t, h);
  delete = (t: string, h: Handler<C>) => this.add("DELETE", t, h);

  /** The handler for a request, or why there is none (404 for an unknown path, 405 for a known path with another method). */
  match(method: string, path: string): { handler: Handler<C>; params: Record<string, string> } | { status: 404 | 405 } {
    let pathKnown = false;
    for (const r of this.routes) {
      const m = r.pattern.exec(path);
      if (!m) continue;
      pathKnown = true;
      if (r.method !== method) continue;
      const params: Record<string, string> = {};
      r.keys.forEach((k, i) => {
        params[k] = decodeURIComponent(m[i + 1]!);
      });
      return { handler: r.handler, params };
    }
    return { status: pathKnown ? 405 : 404 };
  }
}
