/**
 * The server calls of the extension: the status, and signing out. Never a token.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';

import { IFetched } from './poller';
import { IStatus } from './status';

/** The status endpoint, below the server's base URL. */
export const STATUS_PATH = 'nevis/api/status';
/** Where a sign-in started from this interface ends: a page that closes itself. */
export const DONE_PATH = 'nevis/done';
/** The sign-out page (GET: a form; POST: signs out). */
export const LOGOUT_PATH = 'nevis/logout';

/** The status, or null (with the same marker) when it has not changed since `etag`. */
export async function fetchStatus(
  settings: ServerConnection.ISettings,
  etag: string | null,
  trans: TranslationBundle
): Promise<IFetched> {
  const url = URLExt.join(settings.baseUrl, STATUS_PATH);
  const headers: Record<string, string> = {};
  if (etag) {
    headers['If-None-Match'] = etag;
  }
  const response = await ServerConnection.makeRequest(
    url,
    { method: 'GET', headers, cache: 'no-store' },
    settings
  );
  if (response.status === 304) {
    return { status: null, etag };
  }
  if (!response.ok) {
    let message = trans.__(
      'The sign-in status is not available (HTTP %1).',
      response.status
    );
    try {
      message = (await response.json()).message ?? message;
    } catch {
      // Not JSON: the server extension is not there at all; keep the sentence above.
    }
    throw new Error(message);
  }
  const status = (await response.json()) as IStatus;
  return { status, etag: response.headers.get('ETag') };
}

/**
 * Sign out of every provider (or of `provider`), revoking the tokens, as the sign-out
 * page's form does. The answer's redirect is not followed: only the sign-out matters.
 *
 * Returns false where this server signs out only through its page (under JupyterHub's
 * nevis-auth service, nevis/logout sends the browser to the service's page).
 */
export async function signOut(
  settings: ServerConnection.ISettings,
  trans: TranslationBundle,
  provider?: string
): Promise<boolean> {
  const url = URLExt.join(settings.baseUrl, LOGOUT_PATH);
  const body = new URLSearchParams();
  if (provider) {
    body.set('provider', provider);
  }
  const response = await ServerConnection.makeRequest(
    url,
    {
      method: 'POST',
      body: body.toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      redirect: 'manual'
    },
    settings
  );
  if (response.status === 405) {
    return false;
  }
  // A redirect (opaque here) means done; an error page says what went wrong.
  if (response.type !== 'opaqueredirect' && !response.ok) {
    throw new Error(trans.__('Signing out failed (HTTP %1).', response.status));
  }
  return true;
}

/**
 * The sign-out page (a confirmation form) of `provider`, or of every provider, for where
 * signOut() cannot sign out.
 */
export function signOutPageUrl(baseUrl: string, provider?: string): string {
  const url = URLExt.join(baseUrl, LOGOUT_PATH);
  return provider ? `${url}?provider=${encodeURIComponent(provider)}` : url;
}

/**
 * Where the browser signs in: the status's `login_url`, ending on the page that closes
 * itself. `loginUrl` is a path on this server (it may carry provider or API parameters).
 */
export function signInUrl(loginUrl: string, baseUrl: string): string {
  const origin = new URL(baseUrl).origin;
  const url = new URL(loginUrl, origin);
  const done = URLExt.join(new URL(baseUrl).pathname, DONE_PATH);
  // The done page then speaks of the sign-in that ended there.
  const named = ['provider', 'api'].find(key => url.searchParams.get(key));
  const what = named
    ? `?${new URLSearchParams({ [named]: url.searchParams.get(named) ?? '' })}`
    : '';
  url.searchParams.set('next', done + what);
  return url.toString();
}
