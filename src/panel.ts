/**
 * The details of the sign-in: per provider who, until when, claims by name, scopes; the
 * APIs and their tokens' lifetimes; and the actions. Built from the status: never a token.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import {
  claimRows,
  formatLeft,
  IApiStatus,
  IProviderStatus,
  IReceived,
  problemsOf,
  providersOf,
  secondsLeft,
  whoOf
} from './status';

/** What the panel's buttons do. */
export interface IPanelActions {
  signIn: (provider: string) => void;
  /** Sign out of `provider`, or of every provider without one. */
  signOut: (provider?: string) => void;
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

function button(
  label: string,
  className: string,
  onClick: () => void
): HTMLButtonElement {
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
      const cell =
        index === 0 ? element('th', '', text) : element('td', '', text);
      if (index === 0) {
        (cell as HTMLTableCellElement).scope = 'row';
      }
      tr.appendChild(cell);
    });
  }
  return node;
}

/** "Access token: 57 min left, renewed automatically." and the like. */
export function tokenLine(
  provider: IProviderStatus,
  receivedAt: number,
  now: number,
  trans: TranslationBundle
): string {
  const seconds = secondsLeft(provider.expires_in, receivedAt, now);
  const renews = provider.refresh_possible;
  if (seconds === null) {
    return renews
      ? trans.__('Access token: no expiry, renewed automatically.')
      : trans.__(
          'Access token: no expiry; it cannot be renewed, sign in again when it ends.'
        );
  }
  if (seconds <= 0) {
    return renews
      ? trans.__('Access token: being renewed.')
      : trans.__('Access token: expired; sign in again.');
  }
  const left = formatLeft(seconds, trans);
  return renews
    ? trans.__('Access token: %1 left, renewed automatically.', left)
    : trans.__(
        'Access token: %1 left; it cannot be renewed, sign in again when it ends.',
        left
      );
}

/** An API token's time left, or why there is none. */
export function apiLeft(
  api: IApiStatus,
  receivedAt: number,
  now: number,
  trans: TranslationBundle
): string {
  return api.ready
    ? formatLeft(secondsLeft(api.expires_in, receivedAt, now), trans)
    : trans.__('no token yet');
}

export class SignInPanel extends Widget {
  constructor(
    actions: IPanelActions,
    warnSeconds: number,
    private trans: TranslationBundle
  ) {
    super();
    this._actions = actions;
    this._warnSeconds = warnSeconds;
    this.addClass('jp-NevisAuth-panel');
    this.node.setAttribute('role', 'dialog');
    this.node.setAttribute('aria-label', trans.__('Sign-in status'));
    this.node.tabIndex = -1;
  }

  /** Show `received` as of `now`; the same status again only updates the times. */
  render(
    received: IReceived | null,
    now: number,
    error: string | null = null
  ): void {
    // The warnings depend on the time left too: a new one redraws the whole panel.
    const problems = received
      ? JSON.stringify(
          providersOf(received.status).map(([, p]) =>
            problemsOf(
              p,
              received.receivedAt,
              now,
              this._warnSeconds,
              this.trans
            )
          )
        )
      : '';
    if (
      this._drawn &&
      received === this._received &&
      error === this._error &&
      problems === this._problems
    ) {
      this._tick(now);
      return;
    }
    this._drawn = true;
    this._received = received;
    this._error = error;
    this._problems = problems;
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

  /** The title, the details, and below them the actions, which never scroll away. */
  private _render(
    received: IReceived | null,
    now: number,
    error: string | null
  ): HTMLElement[] {
    const details = element('div', 'jp-NevisAuth-details');
    const actions = this._fill(details, received, now, error);
    const title = element('h2', 'jp-NevisAuth-title', this.trans.__('Sign-in'));
    return [title, details, actions];
  }

  /** Put the status into `details`; the row of actions that goes with it. */
  private _fill(
    details: HTMLElement,
    received: IReceived | null,
    now: number,
    error: string | null
  ): HTMLElement {
    const trans = this.trans;
    if (error) {
      details.append(element('p', 'jp-NevisAuth-problem', error));
    }
    if (!received) {
      details.append(
        element(
          'p',
          'jp-NevisAuth-line',
          trans.__('The sign-in status is not known yet.')
        )
      );
      return this._actionsRow([]);
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
        section.appendChild(
          element('p', 'jp-NevisAuth-who', trans.__('Signed out'))
        );
        const reason = provider.signed_out_reason;
        if (reason) {
          section.appendChild(element('p', 'jp-NevisAuth-line', reason));
        }
        signInFor.push(name);
        details.append(section);
        continue;
      }
      section.appendChild(
        element(
          'p',
          'jp-NevisAuth-who',
          trans.__('Signed in as %1', whoOf(provider, trans))
        )
      );
      const line = element(
        'p',
        'jp-NevisAuth-line',
        tokenLine(provider, received.receivedAt, now, trans)
      );
      line.dataset.tokenOf = name;
      section.appendChild(line);
      const problems = problemsOf(
        provider,
        received.receivedAt,
        now,
        this._warnSeconds,
        trans
      );
      for (const sentence of [...problems, ...(provider.warnings ?? [])]) {
        section.appendChild(element('p', 'jp-NevisAuth-problem', sentence));
      }
      if (several) {
        // One provider's sign-in ends on its own: the others' stay.
        const action = button(
          trans.__('Sign out of %1', name),
          'jp-NevisAuth-signOutOf',
          () => this._actions.signOut(name)
        );
        action.dataset.key = `sign-out:${name}`;
        section.appendChild(action);
      }
      if (problems.length) {
        signInFor.push(name);
      }
      const scopes = provider.scopes ?? [];
      section.appendChild(
        element(
          'p',
          'jp-NevisAuth-line',
          scopes.length
            ? trans.__('Scopes: %1', scopes.join(' '))
            : trans.__('Scopes: none')
        )
      );
      const claims = claimRows(provider.claims ?? {}, trans);
      if (claims.length) {
        const headers = [trans.__('Claim'), trans.__('Value')];
        section.appendChild(
          table(trans.__('Claims'), headers, claims, 'jp-NevisAuth-claims')
        );
      }
      details.append(section);
    }
    const apis = Object.entries(received.status.apis ?? {});
    if (apis.length) {
      const rows = apis.map(([name, api]) => [
        name,
        several ? api.provider : api.scopes.join(' ') || '—',
        apiLeft(api, received.receivedAt, now, trans),
        api.obtained_by ?? '—'
      ]);
      const headers = [
        trans.__('API'),
        several ? trans.__('Provider') : trans.__('Scopes'),
        trans.__('Token left'),
        trans.__('Obtained by')
      ];
      const apiTable = table(
        trans.__('APIs'),
        headers,
        rows,
        'jp-NevisAuth-apis'
      );
      apiTable.querySelectorAll('tbody tr').forEach((tr, index) => {
        (tr.children[2] as HTMLElement).dataset.apiLeft = apis[index][0];
      });
      details.append(apiTable);
    }
    return this._actionsRow(
      signInFor,
      providers.some(([, p]) => p.logged_in),
      several
    );
  }

  private _actionsRow(
    signInFor: string[],
    signedIn = false,
    several = false
  ): HTMLElement {
    const trans = this.trans;
    const row = element('div', 'jp-NevisAuth-actions');
    const names = signInFor.length || signedIn ? signInFor : ['default'];
    for (const name of names) {
      const label = several
        ? trans.__('Sign in to %1', name)
        : trans.__('Sign in');
      const action = button(label, 'jp-NevisAuth-signIn jp-mod-accept', () =>
        this._actions.signIn(name)
      );
      action.dataset.key = `sign-in:${name}`;
      row.appendChild(action);
    }
    if (signedIn) {
      const label = several
        ? trans.__('Sign out of all')
        : trans.__('Sign out');
      const action = button(label, 'jp-NevisAuth-signOut', () =>
        this._actions.signOut()
      );
      action.dataset.key = 'sign-out';
      row.appendChild(action);
    }
    const refresh = button(trans.__('Refresh'), 'jp-NevisAuth-refresh', () =>
      this._actions.refresh()
    );
    refresh.dataset.key = 'refresh';
    row.appendChild(refresh);
    return row;
  }

  /** Count the times down in place: no element is replaced, the focus stays. */
  private _tick(now: number): void {
    const received = this._received;
    if (!received) {
      return;
    }
    const providers = new Map(providersOf(received.status));
    this.node.querySelectorAll<HTMLElement>('[data-token-of]').forEach(line => {
      const provider = providers.get(line.dataset.tokenOf ?? '');
      const text = provider
        ? tokenLine(provider, received.receivedAt, now, this.trans)
        : '';
      if (provider && line.textContent !== text) {
        line.textContent = text;
      }
    });
    const apis = received.status.apis ?? {};
    this.node.querySelectorAll<HTMLElement>('[data-api-left]').forEach(cell => {
      const api = apis[cell.dataset.apiLeft ?? ''];
      const text = api
        ? apiLeft(api, received.receivedAt, now, this.trans)
        : '';
      if (api && cell.textContent !== text) {
        cell.textContent = text;
      }
    });
  }

  private _drawn = false;
  private _received: IReceived | null = null;
  private _error: string | null = null;
  private _problems = '';
  private _actions: IPanelActions;
  private _warnSeconds: number;
}
