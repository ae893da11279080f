/**
 * The details of the sign-in: per provider who, until when, claims by name, scopes; the
 * APIs and their tokens' lifetimes; and the actions. Built from the status: never a token.
 */
import { Widget } from '@lumino/widgets';

import {
  claimRows,
  formatLeft,
  IReceived,
  problemsOf,
  providersOf,
  secondsLeft,
  whoOf
} from './status';

/** What the panel's buttons do. */
export interface IPanelActions {
  signIn: (provider: string) => void;
  signOut: () => void;
  refresh: () => void;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function button(label: string, className: string, onClick: () => void): HTMLButtonElement {
  const node = element('button', `jp-NevisAuth-action ${className}`, label);
  node.type = 'button';
  node.addEventListener('click', onClick);
  return node;
}

function table(
  caption: string,
  headers: string[],
  rows: string[][],
  className: string
): HTMLTableElement {
  const node = element('table', `jp-NevisAuth-table ${className}`);
  node.appendChild(element('caption', '', caption));
  const head = node.createTHead().insertRow();
  for (const header of headers) {
    const cell = element('th', '', header);
    cell.scope = 'col';
    head.appendChild(cell);
  }
  const body = node.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    row.forEach((text, index) => {
      const cell = index === 0 ? element('th', '', text) : element('td', '', text);
      if (index === 0) {
        (cell as HTMLTableCellElement).scope = 'row';
      }
      tr.appendChild(cell);
    });
  }
  return node;
}

export class SignInPanel extends Widget {
  constructor(actions: IPanelActions, warnSeconds: number) {
    super();
    this._actions = actions;
    this._warnSeconds = warnSeconds;
    this.addClass('jp-NevisAuth-panel');
    this.node.setAttribute('role', 'dialog');
    this.node.setAttribute('aria-label', 'Sign-in status');
    this.node.tabIndex = -1;
  }

  /** Show `received` as of `now`; the same status again only updates the times. */
  render(received: IReceived | null, now: number, error: string | null = null): void {
    const focused = document.activeElement;
    const focusKey =
      focused instanceof HTMLElement && this.node.contains(focused)
        ? focused.dataset.key
        : undefined;
    this.node.replaceChildren(...this._render(received, now, error));
    if (focusKey) {
      this.node.querySelector<HTMLElement>(`[data-key="${focusKey}"]`)?.focus();
    }
  }

  /** Put the keyboard focus on the first action. */
  focusFirst(): void {
    (this.node.querySelector('button') ?? this.node).focus();
  }

  private _render(received: IReceived | null, now: number, error: string | null): HTMLElement[] {
    const parts: HTMLElement[] = [element('h2', 'jp-NevisAuth-title', 'Sign-in')];
    if (error) {
      parts.push(element('p', 'jp-NevisAuth-problem', error));
    }
    if (!received) {
      parts.push(element('p', 'jp-NevisAuth-line', 'The sign-in status is not known yet.'));
      parts.push(this._actionsRow([]));
      return parts;
    }
    const providers = providersOf(received.status);
    const several = providers.length > 1;
    const signInFor: string[] = [];
    for (const [name, provider] of providers) {
      const section = element('section', 'jp-NevisAuth-provider');
      section.dataset.provider = name;
      if (several) {
        section.appendChild(element('h3', 'jp-NevisAuth-providerName', name));
      }
      if (!provider.logged_in) {
        section.appendChild(element('p', 'jp-NevisAuth-who', 'Signed out'));
        const reason = provider.signed_out_reason;
        if (reason) {
          section.appendChild(element('p', 'jp-NevisAuth-line', reason));
        }
        signInFor.push(name);
        parts.push(section);
        continue;
      }
      section.appendChild(element('p', 'jp-NevisAuth-who', `Signed in as ${whoOf(provider)}`));
      const left = formatLeft(secondsLeft(provider.expires_in, received.receivedAt, now));
      const renews = provider.refresh_possible
        ? 'renewed automatically'
        : 'cannot be renewed: sign in again when it ends';
      section.appendChild(
        element('p', 'jp-NevisAuth-line', `Access token: ${left} left, ${renews}.`)
      );
      const problems = problemsOf(provider, received.receivedAt, now, this._warnSeconds);
      for (const sentence of [...problems, ...(provider.warnings ?? [])]) {
        section.appendChild(element('p', 'jp-NevisAuth-problem', sentence));
      }
      if (problems.length) {
        signInFor.push(name);
      }
      const scopes = provider.scopes ?? [];
      section.appendChild(
        element('p', 'jp-NevisAuth-line', `Scopes: ${scopes.length ? scopes.join(' ') : 'none'}`)
      );
      const claims = claimRows(provider.claims ?? {});
      if (claims.length) {
        section.appendChild(table('Claims', ['Claim', 'Value'], claims, 'jp-NevisAuth-claims'));
      }
      parts.push(section);
    }
    const apis = Object.entries(received.status.apis ?? {});
    if (apis.length) {
      const rows = apis.map(([name, api]) => [
        name,
        several ? api.provider : api.scopes.join(' ') || '—',
        api.ready ? formatLeft(secondsLeft(api.expires_in, received.receivedAt, now)) : 'no token yet',
        api.obtained_by ?? '—'
      ]);
      const headers = ['API', several ? 'Provider' : 'Scopes', 'Token left', 'Obtained by'];
      parts.push(table('APIs', headers, rows, 'jp-NevisAuth-apis'));
    }
    parts.push(this._actionsRow(signInFor, providers.some(([, p]) => p.logged_in), several));
    return parts;
  }

  private _actionsRow(signInFor: string[], signedIn = false, several = false): HTMLElement {
    const row = element('div', 'jp-NevisAuth-actions');
    const names = signInFor.length || signedIn ? signInFor : ['default'];
    for (const name of names) {
      const label = several ? `Sign in to ${name}` : 'Sign in';
      const action = button(label, 'jp-NevisAuth-signIn jp-mod-accept', () =>
        this._actions.signIn(name)
      );
      action.dataset.key = `sign-in:${name}`;
      row.appendChild(action);
    }
    if (signedIn) {
      const action = button('Sign out', 'jp-NevisAuth-signOut', () => this._actions.signOut());
      action.dataset.key = 'sign-out';
      row.appendChild(action);
    }
    const refresh = button('Refresh', 'jp-NevisAuth-refresh', () => this._actions.refresh());
    refresh.dataset.key = 'refresh';
    row.appendChild(refresh);
    return row;
  }

  private _actions: IPanelActions;
  private _warnSeconds: number;
}
