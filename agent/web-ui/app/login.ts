/** The agent's page asks for the token once; the agent answers with an HttpOnly session cookie. */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { problemText } from '../transport.ts';
import { ApiError, type Api } from './api.ts';

export function Login({ api, onDone }: { api: Api; onDone: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.login(token.trim());
      onDone();
    } catch (e) {
      setError(e instanceof ApiError ? (e.problem.status === 401 || e.problem.status === 403 ? 'The agent refused this token.' : problemText(e.problem)) : String(e));
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="cg-login" onSubmit=${submit}>
    <h2>Sign in to conegate</h2>
    <p class="cg-muted">Paste the token that <code>conegate web token</code> prints on the router.</p>
    <label for="cg-token">Token</label>
    <input id="cg-token" name="token" type="password" autocomplete="off" value=${token} onInput=${(e: Event) => setToken((e.target as HTMLInputElement).value)} />
    <button type="submit" class="cg-btn cg-btn-primary" disabled=${busy || token.trim() === ''}>Sign in</button>
    ${error ? html`<div class="cg-alert cg-alert-error" role="alert">${error}</div>` : null}
  </form>`;
}
