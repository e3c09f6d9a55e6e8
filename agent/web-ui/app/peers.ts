/** The per-peer path table; a row expands into the peer's event timeline and latency chart. */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { PagePeer } from '../../src/web/model.ts';
import { agedUp, endpointFamily, formatAgo, formatBytes, formatDuration, formatInstant, formatRtt, pathLabel } from '../format.ts';
import { LatencyChart } from './chart.ts';

/** `now` is the agent's clock; `elapsed` the seconds since the model was made (time on path ages by it). */
export function PeersView({ peers, now, elapsed }: { peers: PagePeer[]; now: number; elapsed: number }) {
  const [open, setOpen] = useState<Set<string>>(new Set());
  const toggle = (id: string) =>
    setOpen((prev) => {
      const next = new Set(prev);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  if (peers.length === 0) return html`<p class="cg-empty">No peers yet. Peers appear when the coordinator sends this node its network map.</p>`;
  return html`<table class="cg-table cg-peers">
    <thead>
      <tr>
        <th class="cg-narrow"></th><th>Name</th><th>Mesh addresses</th><th>Path</th><th>Endpoint</th><th class="cg-num">RTT</th>
        <th>Handshake</th><th class="cg-num">Rx / Tx</th><th>On path</th>
      </tr>
    </thead>
    <tbody>
      ${peers.map((p) => {
        const isOpen = open.has(p.id);
        const family = endpointFamily(p.endpoint);
        const rows = [
          html`<tr key=${p.id} class=${isOpen ? 'cg-row cg-row-open' : 'cg-row'} data-peer=${p.id} onClick=${() => toggle(p.id)}>
            <td class="cg-narrow"><button type="button" class="cg-expand" aria-expanded=${isOpen} aria-label=${`details of ${p.name}`}>${isOpen ? '▾' : '▸'}</button></td>
            <td data-col="name"><span class=${p.online ? 'cg-dot cg-on' : 'cg-dot cg-off'} title=${p.online ? 'online' : 'offline'}></span>${p.name}</td>
            <td class="cg-mono cg-addrs">${p.addresses.map((a) => html`<div key=${a}>${a}</div>`)}</td>
            <td data-col="path">
              <span class=${`cg-path cg-path-${p.path}`}>${pathLabel(p)}</span>
              ${p.reason ? html`<div class="cg-reason" data-col="reason" title=${p.reason.code}>${p.reason.text}</div>` : null}
            </td>
            <td class="cg-mono" data-col="endpoint">${p.endpoint ?? '–'}${family ? html` <span class="cg-tag">${family}</span>` : null}</td>
            <td class="cg-num">${formatRtt(p.rttMs)}</td>
            <td class="cg-nowrap" title=${formatInstant(p.lastHandshake)}>${formatAgo(p.lastHandshake, now)}</td>
            <td class="cg-num"><div title="received">↓ ${formatBytes(p.rxBytes)}</div><div title="sent">↑ ${formatBytes(p.txBytes)}</div></td>
            <td class="cg-nowrap">${formatDuration(agedUp(p.forSec, elapsed))}</td>
          </tr>`,
        ];
        if (isOpen) rows.push(html`<tr key=${`${p.id}-detail`} class="cg-detail" data-detail=${p.id}><td colspan="9"><${PeerDetail} peer=${p} /></td></tr>`);
        return rows;
      })}
    </tbody>
  </table>`;
}

function PeerDetail({ peer }: { peer: PagePeer }) {
  const events = [...peer.events].reverse();
  return html`<div class="cg-detail-grid">
    <section>
      <h4>Events</h4>
      ${events.length === 0
        ? html`<p class="cg-muted">No events yet.</p>`
        : html`<ol class="cg-timeline">
            ${events.map((e, i) => html`<li key=${`${e.at}-${i}`}><time datetime=${e.at}>${formatInstant(e.at)}</time> ${e.text}</li>`)}
          </ol>`}
    </section>
    <section>
      <h4>Latency</h4>
      <${LatencyChart} history=${peer.rttHistory} />
    </section>
  </div>`;
}
