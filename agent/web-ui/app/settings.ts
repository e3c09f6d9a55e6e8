/**
 * Settings as the config file's JSON, validated by the agent with the config file's own JSON Schema: a
 * refusal names the field. Applied live where the agent can, else pending until a restart.
 */
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { PageModel } from '../../src/web/model.ts';
import { formatInstant } from '../format.ts';
import { locateField } from '../locate.ts';
import { problemText } from '../transport.ts';
import { ApiError, type Api, type SettingsState } from './api.ts';

export function SettingsView({ api, state }: { api: Api; state: PageModel['settings'] }) {
  const [text, setText] = useState<string | null>(null);
  const [loaded, setLoaded] = useState<SettingsState | null>(null);
  const [error, setError] = useState<{ field: string | null; text: string } | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const editor = useRef<HTMLTextAreaElement>(null);

  // A refusal that names a field puts the cursor on that key, so the admin sees which line to fix.
  useEffect(() => {
    const el = editor.current;
    if (el === null || !error?.field) return;
    const at = locateField(el.value, error.field);
    if (at === null) return;
    el.focus();
    el.setSelectionRange(at.start, at.end);
    const line = el.value.slice(0, at.start).split('\n').length;
    el.scrollTop = Math.max(0, (line - 4) * (el.scrollHeight / Math.max(1, el.value.split('\n').length)));
  }, [error]);

  const load = async () => {
    try {
      const s = await api.settings();
      setLoaded(s);
      setText(JSON.stringify(s.config, null, 2));
      setError(null);
    } catch (e) {
      setError({ field: null, text: e instanceof ApiError ? problemText(e.problem) : String(e) });
    }
  };
  useEffect(() => void load(), [api]);

  const save = async (ev: Event) => {
    ev.preventDefault();
    setSaved(null);
    let config: unknown;
    try {
      config = JSON.parse(text ?? '');
    } catch (e) {
      setError({ field: null, text: `Not valid JSON: ${(e as Error).message}` });
      return;
    }
    setBusy(true);
    try {
      const s = await api.saveSettings(config);
      setLoaded(s);
      setError(null);
      setSaved(s.pending ? `Saved; needs a restart of the agent for: ${s.restartNeeded.join(', ')}.` : `Applied at ${formatInstant(s.appliedAt)}.`);
    } catch (e) {
      if (e instanceof ApiError) setError({ field: e.problem.field, text: `Refused: ${problemText(e.problem)}` });
      else setError({ field: null, text: String(e) });
    } finally {
      setBusy(false);
    }
  };

  const pending = loaded?.pending ?? state.pending;
  const appliedAt = loaded?.appliedAt ?? state.appliedAt;
  const restartNeeded = loaded?.restartNeeded ?? state.restartNeeded;
  return html`<form class="cg-settings" onSubmit=${save}>
    <div class="cg-summary" data-settings-state>
      ${pending
        ? html`<span class="cg-badge cg-badge-warn">pending</span> restart needed for <span class="cg-mono">${restartNeeded.join(', ')}</span>`
        : html`<span class="cg-badge cg-badge-ok">applied</span> at ${formatInstant(appliedAt)}`}
    </div>
    <label for="cg-config">Config (the same JSON as the config file; unknown keys are refused)</label>
    <textarea
      id="cg-config"
      ref=${editor}
      class=${error?.field ? 'cg-code cg-invalid' : 'cg-code'}
      spellcheck="false"
      rows="18"
      aria-invalid=${error !== null}
      aria-describedby="cg-settings-error"
      value=${text ?? ''}
      disabled=${text === null}
      onInput=${(e: Event) => setText((e.target as HTMLTextAreaElement).value)}
    ></textarea>
    <div id="cg-settings-error" aria-live="polite">
      ${error ? html`<div class="cg-alert cg-alert-error" role="alert" data-field=${error.field ?? ''}>${error.text}</div>` : null}
      ${saved ? html`<div class="cg-alert cg-alert-ok" role="status">${saved}</div>` : null}
    </div>
    <div class="cg-toolbar">
      <button type="submit" class="cg-btn cg-btn-primary" disabled=${busy || text === null}>Save</button>
      <button type="button" class="cg-btn" disabled=${busy} onClick=${() => void load()}>Discard changes</button>
    </div>
  </form>`;
}
