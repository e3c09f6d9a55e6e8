/** What the agent service runs: components built `(config, deps) -> component`, start/stop idempotent. */
export interface Component {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A JSON-able summary for `conegate status`. */
  status?(): unknown;
}

/** Wraps start/stop so a second call is a no-op and stop after a failed start is safe. */
export function idempotent(name: string, start: () => Promise<void>, stop: () => Promise<void>, status?: () => unknown): Component {
  let started: Promise<void> | undefined;
  let stopped: Promise<void> | undefined;
  return {
    name,
    start: () => (started ??= start()),
    stop: () => (stopped ??= started ? started.catch(() => undefined).then(stop) : Promise.resolve()),
    ...(status ? { status } : {}),
  };
}
