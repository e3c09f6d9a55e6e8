/**
 * The fake agent's state: an in-memory PageModel, config and NAT confirm state, answering the page's
 * control commands (`page`, `pmp-delete`, `settings-get`, `settings-set`, `nat-apply`, `nat-confirm`,
 * `nat-revert`) the way the agent's control socket does: a value, or a ConegateError with a code.
 * Served over HTTP by fake-agent.ts, or behind the agent's real web server by server-target.ts.
 * Settings are validated with the real config schema (agent/src/config).
 */
import { validateConfig } from '../../agent/src/config/load.ts';
import { ConegateError } from '../../agent/src/errors.ts';
import type { PageMapping, PageModel, PagePeer } from '../../agent/src/web/model.ts';
import { SAMPLE_CONFIG, sampleModel } from './sample-model.ts';

/** Sections the fake cannot change live (the real agent decides its own list). */
const RESTART_SECTIONS = ['wg', 'mesh'];

export type PageCommand = 'page' | 'pmp-delete' | 'settings-get' | 'settings-set' | 'nat-apply' | 'nat-confirm' | 'nat-revert';

export class FakePageState {
  model: PageModel = sampleModel(Date.now());
  config: unknown = structuredClone(SAMPLE_CONFIG);
  private settings = { pending: false, appliedAt: this.model.settings.appliedAt, restartNeeded: [] as string[] };
  private readonly listeners = new Set<() => void>();

  /** Called after every change (the fake's event streams push on it). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  update(change: (m: PageModel) => void): void {
    change(this.model);
    for (const fn of this.listeners) fn();
  }

  setPeer(id: string, patch: Partial<PagePeer>): void {
    this.update((m) => {
      const p = m.peers.find((x) => x.id === id);
      if (!p) throw new Error(`fake agent: no peer ${id}`);
      Object.assign(p, patch);
    });
  }

  addMapping(m: Omit<PageMapping, 'id'>): PageMapping {
    const mapping: PageMapping = { ...m, id: `${m.client}/${m.protocol}/${m.internalPort}` };
    this.update((model) => model.mappings?.items.push(mapping));
    return mapping;
  }

  snapshot(): PageModel {
    return { ...this.model, generatedAt: new Date().toISOString(), settings: { ...this.settings } };
  }

  async call(cmd: string, params: Record<string, unknown>): Promise<unknown> {
    switch (cmd as PageCommand) {
      case 'page':
        return this.snapshot();
      case 'pmp-delete':
        return this.deleteMapping(params);
      case 'settings-get':
        return { config: this.config, ...this.settings };
      case 'settings-set':
        return this.setSettings(params.config);
      case 'nat-apply': {
        const sec = params.confirmSeconds ?? 60;
        if (typeof sec !== 'number' || !Number.isInteger(sec) || sec < 10 || sec > 3600) throw new ConegateError('CG_INPUT_INVALID', 'confirmSeconds: expected a whole number from 10 to 3600');
        this.update((m) => (m.nat = { ...m.nat, pending: { revertAt: new Date(Date.now() + sec * 1000).toISOString() }, appliedAt: new Date().toISOString() }));
        return { ok: true };
      }
      case 'nat-confirm':
        if (this.model.nat.pending === null) throw new ConegateError('CG_NOTHING_PENDING', 'nothing to confirm: no change is waiting');
        this.update((m) => (m.nat = { ...m.nat, pending: null }));
        return { ok: true };
      case 'nat-revert':
        this.update((m) => (m.nat = { ...m.nat, pending: null }));
        return { ok: true };
      default:
        throw new ConegateError('CG_USAGE', `fake agent: no command ${cmd}`);
    }
  }

  private deleteMapping(params: Record<string, unknown>): unknown {
    const items = this.model.mappings?.items ?? [];
    const at = items.findIndex((m) => m.client === params.client && m.protocol === params.protocol && m.internalPort === params.internalPort);
    if (at < 0) throw new ConegateError('CG_NOT_FOUND', `no mapping ${String(params.client)} ${String(params.protocol)} ${String(params.internalPort)}`);
    this.update(() => items.splice(at, 1));
    return { deleted: 1 };
  }

  private setSettings(config: unknown): unknown {
    validateConfig(config, 'settings');
    const old = this.config as Record<string, unknown>;
    const next = config as Record<string, unknown>;
    const restartNeeded = RESTART_SECTIONS.filter((s) => JSON.stringify(old[s]) !== JSON.stringify(next[s]));
    this.config = structuredClone(config);
    this.settings = { pending: restartNeeded.length > 0, appliedAt: restartNeeded.length > 0 ? this.settings.appliedAt : new Date().toISOString(), restartNeeded };
    this.update(() => undefined);
    return { config: this.config, ...this.settings };
  }
}
