/** Port mappings of our NAT-PMP/PCP server, each deletable on its own (the others and the epoch stay). */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { PageMapping, PageModel } from '../../src/web/model.ts';
import { agedDown, agedUp, formatDuration } from '../format.ts';
import { problemText } from '../transport.ts';
import { ApiError, type Api } from './api.ts';

interface Props {
  api: Api;
  mappings: PageModel['mappings'];
  /** Seconds since the model was made: lifetimes run down and the epoch ages by it. */
  elapsed: number;
  onChanged: () => void;
}

export function MappingsView({ api, mappings, elapsed, onChanged }: Props) {
  const [busy, setBusy] = useState<string | null>(null);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  if (mappings === null) return html`<p class="cg-empty">The NAT-PMP/PCP server is off (config section <code>pmp</code>).</p>`;

  const remove = async (m: PageMapping) => {
    setBusy(m.id);
    setNote(null);
    try {
      await api.deleteMapping(m);
      setNote({ ok: true, text: `Deleted ${m.protocol.toUpperCase()} ${m.client}:${m.internalPort} → ${m.externalPort}.` });
      onChanged();
    } catch (e) {
      setNote({ ok: false, text: e instanceof ApiError ? problemText(e.problem) : String(e) });
    } finally {
      setBusy(null);
    }
  };

  return html`<div>
    <p class="cg-summary">Server epoch: <strong data-epoch>${formatDuration(agedUp(mappings.epochSec, elapsed))}</strong> <span class="cg-muted">(${agedUp(mappings.epochSec, elapsed)} s)</span></p>
    ${note ? html`<div class=${note.ok ? 'cg-alert cg-alert-ok' : 'cg-alert cg-alert-error'} role="status">${note.text}</div>` : null}
    ${mappings.items.length === 0
      ? html`<p class="cg-empty">No mappings. LAN clients ask for them over NAT-PMP or PCP.</p>`
      : html`<table class="cg-table cg-mappings">
          <thead>
            <tr><th>Client</th><th>Protocol</th><th class="cg-num">Internal port</th><th class="cg-num">External port</th><th>Lifetime left</th><th>Via</th><th></th></tr>
          </thead>
          <tbody>
            ${mappings.items.map(
              (m) => html`<tr key=${m.id} data-mapping=${m.id}>
                <td class="cg-mono">${m.client}</td>
                <td>${m.protocol.toUpperCase()}</td>
                <td class="cg-num">${m.internalPort}</td>
                <td class="cg-num">${m.externalPort}</td>
                <td data-col="lifetime">${formatDuration(agedDown(m.lifetimeSec, elapsed))}</td>
                <td>${m.via === 'pcp' ? 'PCP' : 'NAT-PMP'}</td>
                <td class="cg-actions">
                  <button type="button" class="cg-btn cg-btn-small cg-btn-danger" disabled=${busy !== null} onClick=${() => remove(m)}>Delete</button>
                </td>
              </tr>`,
            )}
          </tbody>
        </table>`}
  </div>`;
}
