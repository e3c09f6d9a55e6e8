/**
 * Keeps one view's failure to itself: a model this bundle cannot read (an agent of another version, a
 * host that wrote something else) shows as a message in that view, while the header, the other tabs and
 * the live updates go on. The view is tried again with every new model (`resetKey`), so it comes back
 * on its own once the agent sends one it can read.
 */
import { html } from 'htm/preact';
import { Component, type ComponentChildren } from 'preact';

interface Props {
  name: string;
  resetKey: string;
  children?: ComponentChildren;
}

export class ViewBoundary extends Component<Props, { error: string | null }> {
  override state = { error: null as string | null };

  static override getDerivedStateFromError(e: unknown): { error: string } {
    return { error: e instanceof Error ? e.message : String(e) };
  }

  override componentDidUpdate(prev: Props): void {
    if (prev.resetKey !== this.props.resetKey && this.state.error !== null) this.setState({ error: null });
  }

  override render() {
    if (this.state.error === null) return this.props.children;
    return html`<div class="cg-alert cg-alert-error" role="alert" data-view-error>
      The ${this.props.name} view could not be shown: ${this.state.error}. The agent may be of another version than this page.
    </div>`;
  }
}
