/** The last netcheck as structured data, and the IPS findings with the exact fix and where to click. */
import { html } from 'htm/preact';
import type { PageFinding, PageModel } from '../../src/web/model.ts';
import { formatAgo, formatInstant, formatRtt, formatTristate } from '../format.ts';

const SEVERITY: Record<PageFinding['severity'], string> = { block: 'blocks', warn: 'warning', info: 'info' };

export function ChecksView({ netcheck, ips, now }: { netcheck: PageModel['netcheck']; ips: PageFinding[]; now: number }) {
  return html`<div class="cg-two">
    <section class="cg-panel">
      <h3>Netcheck</h3>
      ${netcheck === null
        ? html`<p class="cg-empty">No netcheck yet.</p>`
        : html`<dl class="cg-facts">
            <dt>Checked</dt><dd title=${formatInstant(netcheck.at)}>${formatAgo(netcheck.at, now)}</dd>
            <dt>Mapping</dt><dd data-fact="mapping">${netcheck.mapping}</dd>
            <dt>Filtering</dt><dd data-fact="filtering">${netcheck.filtering}</dd>
            <dt>Hairpinning</dt><dd>${formatTristate(netcheck.hairpin, 'works', 'does not work')}</dd>
            <dt>IPv6</dt><dd>${netcheck.ipv6 ? 'yes' : 'no'}</dd>
            <dt>Port mapping upstream</dt>
            <dd>
              ${netcheck.portMapping.protocol === null
                ? 'none offered'
                : html`${netcheck.portMapping.protocol}${netcheck.portMapping.externalAddress ? html`, external <span class="cg-mono">${netcheck.portMapping.externalAddress}</span>` : null}${netcheck.portMapping.epoch !== null ? `, epoch ${netcheck.portMapping.epoch} s` : ''}`}
            </dd>
            <dt>Relay latency</dt>
            <dd>
              ${Object.keys(netcheck.relayLatencyMs).length === 0
                ? 'no relay answered'
                : html`<table class="cg-table cg-inner">
                    <tbody>
                      ${Object.entries(netcheck.relayLatencyMs)
                        .sort((a, b) => a[1] - b[1])
                        .map(([region, ms]) => html`<tr key=${region}><td>${region}</td><td class="cg-num">${formatRtt(ms)}</td></tr>`)}
                    </tbody>
                  </table>`}
            </dd>
          </dl>`}
    </section>
    <section class="cg-panel">
      <h3>IPS findings</h3>
      ${ips.length === 0
        ? html`<p class="cg-empty">No IPS rule in the way of mesh traffic.</p>`
        : html`<ul class="cg-findings">
            ${ips.map(
              (f) => html`<li key=${f.id} class=${`cg-finding cg-sev-${f.severity}`} data-finding=${f.id}>
                <div class="cg-finding-head"><span class="cg-badge">${SEVERITY[f.severity]}</span> <strong>${f.title}</strong></div>
                <div class="cg-label">Fix</div>
                <pre class="cg-fix">${f.fix}</pre>
                <div class="cg-label">Where</div>
                <div class="cg-where">${f.where}</div>
              </li>`,
            )}
          </ul>`}
    </section>
  </div>`;
}
