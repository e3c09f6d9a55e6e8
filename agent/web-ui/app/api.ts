/**
 * The edge between the page and its host: fetch for reads and writes, server-sent events or polling for
 * the live model. Every request is same-origin with the session cookie; writes are JSON (the agent refuses
 * anything else) and carry the host's CSRF header where it has one (OPNsense, pfSense).
 */
import type { PageModel, PageTransport } from '../../src/web/model.ts';
import { apiUrl, problemFromAnswer, type ApiProblem, type Route } from '../transport.ts';

export class ApiError extends Error {
  readonly problem: ApiProblem;
  constructor(problem: ApiProblem) {
    super(problem.message);
    this.problem = problem;
  }
}

export interface SettingsState {
  config: unknown;
  pending: boolean;
  appliedAt: string | null;
  restartNeeded: string[];
}

export type LiveState = 'connecting' | 'sse' | 'poll' | 'offline' | 'login';

export interface LiveHandlers {
  onModel(model: PageModel, receivedAtMs: number): void;
  onState(state: LiveState, problem: ApiProblem | null): void;
}

export class Api {
  constructor(readonly transport: PageTransport) {}

  private async request<T>(route: Route, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const init: RequestInit = { method: body === undefined ? 'GET' : 'POST', credentials: 'same-origin', cache: 'no-store', headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      if (this.transport.csrf) headers[this.transport.csrf.header] = this.transport.csrf.token;
      init.body = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await fetch(apiUrl(this.transport, route), init);
    } catch {
      throw new ApiError(problemFromAnswer(0, null));
    }
    const text = await res.text();
    let data: unknown = null;
    try {
      data = text === '' ? null : JSON.parse(text);
    } catch {
      data = null;
    }
    if (!res.ok) throw new ApiError(problemFromAnswer(res.status, data));
    return data as T;
  }

  page(): Promise<PageModel> {
    return this.request<PageModel>('page');
  }
  settings(): Promise<SettingsState> {
    return this.request<SettingsState>('settings');
  }
  saveSettings(config: unknown): Promise<SettingsState> {
    return this.request<SettingsState>('settings', { config });
  }
  deleteMapping(m: { client: string; protocol: string; internalPort: number }): Promise<unknown> {
    return this.request('pmp/delete', { client: m.client, protocol: m.protocol, internalPort: m.internalPort });
  }
  natApply(confirmSeconds: number): Promise<unknown> {
    return this.request('nat/apply', { confirmSeconds });
  }
  natConfirm(): Promise<unknown> {
    return this.request('nat/confirm', {});
  }
  natRevert(): Promise<unknown> {
    return this.request('nat/revert', {});
  }
  login(token: string): Promise<unknown> {
    return this.request('session', { token });
  }

  /**
   * Keeps the model live until the returned stop() is called: server-sent events where the host offers
   * them, else (or once the event stream fails) a poll every transport.pollMs, which parseTransport
   * holds at 2 s or less. A 401 stops everything and asks for the token.
   */
  live(h: LiveHandlers): () => void {
    let stopped = false;
    let source: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;

    const poll = async (): Promise<void> => {
      if (stopped) return;
      try {
        const model = await this.page();
        if (stopped) return;
        h.onModel(model, Date.now());
        h.onState('poll', null);
      } catch (e) {
        const problem = e instanceof ApiError ? e.problem : problemFromAnswer(0, null);
        if (problem.status === 401) {
          h.onState('login', problem);
          return;
        }
        h.onState('offline', problem);
      }
      if (!stopped) timer = setTimeout(() => void poll(), this.transport.pollMs);
    };

    if (this.transport.live === 'sse' && typeof EventSource === 'function') {
      h.onState('connecting', null);
      source = new EventSource(apiUrl(this.transport, 'events'), { withCredentials: true });
      source.addEventListener('page', (ev) => {
        try {
          h.onModel(JSON.parse((ev as MessageEvent<string>).data) as PageModel, Date.now());
          h.onState('sse', null);
        } catch {
          // A malformed event is skipped; the next one replaces the model anyway.
        }
      });
      // EventSource hides the HTTP status of a failure, so one poll tells a 401 from an outage, and
      // polling carries on from there for the life of the page.
      source.onerror = () => {
        source?.close();
        source = null;
        if (!stopped) void poll();
      };
    } else {
      void poll();
    }
    return () => {
      stopped = true;
      source?.close();
      if (timer !== null) clearTimeout(timer);
    };
  }
}
