/** The NAT rules in force, with Apply / Confirm / Revert: an applied change reverts itself unless confirmed. */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { PageModel } from '../../src/web/model.ts';
import { formatInstant, secondsUntil } from '../format.ts';
import { problemText } from '../transport.ts';
import { ApiError, type Api } from './api.ts';

interface Props {
  api: Api;
  nat: PageModel['nat'];
  now: number;
  offsetMs: number;
  onChanged: () => void;
}

const DEFAULT_CONFIRM_SEC = 60;

export function NatView({ api, nat, now, offsetMs, onChanged }: Props) {
  const [confirmSec, setConfirmSec] = useState(String(DEFAULT_CONFIRM_SEC));
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);

  const run = async (what: string, call: () => Promise<unknown>) => {
    setBusy(true);
    setNote(null);
    try {
      await call();
      setNote({ ok: true, text: what });
      onChanged();
    } catch (e) {
      setNote({ ok: false, text: e instanceof ApiError ? problemText(e.problem) : String(e) });
    } finally {
      setBusy(false);
    }
  };
  const seconds = Number(confirmSec);
  const secondsOk = /^\d+$/.test(confirmSec) && seconds >= 10 && seconds <= 3600;

  return html`<div>
    <div class="cg-summary">
      NAT rules: <strong>${nat.enabled ? 'enabled' : 'disabled in the config'}</strong>${nat.backend ? html` · backend <span class="cg-mono">${nat.backend}</span>` : null}${` · applied ${formatInstant(nat.appliedAt)}`}
    </div>
    ${nat.pending
      ? html`<div class="cg-alert cg-alert-warn" data-pending>
          Applied, not confirmed: reverts in <strong data-countdown>${secondsUntil(nat.pending.revertAt, now, offsetMs)} s</strong> unless confirmed.
          <button type="button" class="cg-btn cg-btn-primary" disabled=${busy} onClick=${() => run('Confirmed: the rules stay.', () => api.natConfirm())}>Confirm</button>
          <button type="button" class="cg-btn" disabled=${busy} onClick=${() => run('Reverted to the rules before the change.', () => api.natRevert())}>Revert now</button>
        </div>`
      : html`<div class="cg-toolbar">
          <label>Confirm within <input class="cg-input-num" type="text" inputmode="numeric" value=${confirmSec} onInput=${(e: Event) => setConfirmSec((e.target as HTMLInputElement).value)} /> s</label>
          <button type="button" class="cg-btn cg-btn-primary" disabled=${busy || !nat.enabled || !secondsOk} onClick=${() => run('Applied: confirm before the countdown ends, or it reverts.', () => api.natApply(seconds))}>Apply</button>
          <button type="button" class="cg-btn" disabled=${busy || nat.appliedAt === null} onClick=${() => run('Reverted.', () => api.natRevert())}>Revert</button>
          ${secondsOk ? null : html`<span class="cg-error-text">between 10 and 3600 s</span>`}
        </div>`}
    ${note ? html`<div class=${note.ok ? 'cg-alert cg-alert-ok' : 'cg-alert cg-alert-error'} role="status">${note.text}</div>` : null}
    <h4>Rules in force</h4>
    ${nat.rules.trim() === '' ? html`<p class="cg-empty">No rules in force.</p>` : html`<pre class="cg-rules">${nat.rules}</pre>`}
  </div>`;
}
