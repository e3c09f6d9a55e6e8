/** The page: a header with the live state, tabs for the views, and the login form when the agent asks for the token. */
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import type { PageModel } from '../../src/web/model.ts';
import { clockOffsetMs, elapsedSec, formatAgo } from '../format.ts';
import { problemText, type ApiProblem } from '../transport.ts';
import type { Api, LiveState } from './api.ts';
import { ChecksView } from './checks.ts';
import { Login } from './login.ts';
import { MappingsView } from './mappings.ts';
import { NatView } from './nat.ts';
import { PeersView } from './peers.ts';
import { SettingsView } from './settings.ts';
import { useNow } from './hooks.ts';
import { ViewBoundary } from './boundary.ts';

const TABS = [
  ['peers', 'Peers'],
  ['mappings', 'Port mappings'],
  ['checks', 'Netcheck & IPS'],
  ['nat', 'NAT rules'],
  ['settings', 'Settings'],
] as const;
type Tab = (typeof TABS)[number][0];

function tabFromHash(): Tab {
  const h = location.hash.replace(/^#/, '');
  return (TABS.find(([id]) => id === h)?.[0] ?? 'peers') as Tab;
}

const LIVE_TEXT: Record<LiveState, string> = {
  connecting: 'connecting…',
  sse: 'live',
  poll: 'live (polling)',
  offline: 'agent not answering, retrying',
  login: 'signed out',
};

export function App({ api }: { api: Api }) {
  const [model, setModel] = useState<PageModel | null>(null);
  const [offsetMs, setOffsetMs] = useState(0);
  const [receivedAt, setReceivedAt] = useState<number | null>(null);
  const [live, setLive] = useState<LiveState>('connecting');
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [tab, setTab] = useState<Tab>(tabFromHash());
  const [session, setSession] = useState(0);
  const now = useNow(1000);

  useEffect(() => {
    const onHash = () => setTab(tabFromHash());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  useEffect(
    () =>
      api.live({
        onModel(m, at) {
          setModel(m);
          setReceivedAt(at);
          setOffsetMs(clockOffsetMs(m.generatedAt, at));
        },
        onState(state, p) {
          setLive(state);
          setProblem(p);
        },
      }),
    [api, session],
  );

  const refresh = async () => {
    try {
      const m = await api.page();
      const at = Date.now();
      setModel(m);
      setReceivedAt(at);
      setOffsetMs(clockOffsetMs(m.generatedAt, at));
    } catch {
      // The live loop reports outages; a refresh after a write is only a shortcut.
    }
  };

  if (live === 'login') return html`<div class="cg"><${Login} api=${api} onDone=${() => setSession((n) => n + 1)} /></div>`;

  const self = model?.self;
  const blocking = model?.ips.filter((f) => f.severity === 'block').length ?? 0;
  const counts: Partial<Record<Tab, string>> = model
    ? { peers: String(model.peers.length), mappings: String(model.mappings?.items.length ?? 0), checks: blocking > 0 ? `${blocking} blocking` : '' }
    : {};
  const view = (t: Tab, m: PageModel) => {
    const elapsed = elapsedSec(m.generatedAt, now + offsetMs);
    switch (t) {
      case 'peers':
        return html`<${PeersView} peers=${m.peers} now=${now + offsetMs} elapsed=${elapsed} />`;
      case 'mappings':
        return html`<${MappingsView} api=${api} mappings=${m.mappings} elapsed=${elapsed} onChanged=${refresh} />`;
      case 'checks':
        return html`<${ChecksView} netcheck=${m.netcheck} ips=${m.ips} now=${now + offsetMs} />`;
      case 'nat':
        return html`<${NatView} api=${api} nat=${m.nat} now=${now} offsetMs=${offsetMs} onChanged=${refresh} />`;
      case 'settings':
        return html`<${SettingsView} api=${api} state=${m.settings} />`;
    }
  };
  return html`<div class="cg">
    <header class="cg-head">
      <div class="cg-title">
        <strong>conegate</strong>
        <span class="cg-muted">${self ? `${self.name ?? '(unnamed node)'} · ${self.addresses.join(', ') || 'no mesh address'}` : ''}</span>
      </div>
      <div class="cg-live" data-state=${live} title=${problem ? problemText(problem) : ''}>
        <span class="cg-dot"></span>${LIVE_TEXT[live]}
        ${receivedAt !== null ? html`<span class="cg-muted"> · updated ${formatAgo(new Date(receivedAt).toISOString(), now)}</span>` : null}
      </div>
    </header>
    ${problem && live === 'offline' ? html`<div class="cg-alert cg-alert-error" role="alert">${problemText(problem)}</div>` : null}
    <nav class="cg-tabs" role="tablist">
      ${TABS.map(
        ([id, label]) =>
          html`<a href=${`#${id}`} role="tab" class=${tab === id ? 'cg-tab cg-tab-on' : 'cg-tab'} aria-selected=${tab === id} data-tab=${id}
            >${label}${counts[id] ? html` <span class="cg-count">${counts[id]}</span>` : null}</a
          >`,
      )}
    </nav>
    <main class="cg-body">
      ${model === null ? html`<p class="cg-muted">Loading…</p>` : html`<${ViewBoundary} key=${tab} resetKey=${model.generatedAt} name=${TABS.find(([id]) => id === tab)![1]}>${view(tab, model)}</${ViewBoundary}>`}
    </main>
    <footer class="cg-foot cg-muted">conegate ${model?.version ?? ''} · coordinator ${self?.coordinator ?? '–'}</footer>
  </div>`;
}
