/**
 * The sign-in status as `nevis/api/status` answers it, and what the interface shows of it.
 *
 * The status never holds a token: claims, scopes and expiry only.
 */
import { TranslationBundle } from '@jupyterlab/translation';

/** One provider's sign-in (protocol.ProviderStatus). */
export interface IProviderStatus {
  logged_in: boolean;
  signed_out_reason?: string | null;
  signed_out_by_provider?: boolean;
  last_refresh_error?: string | null;
  claims?: Record<string, unknown>;
  display_name?: string;
  scopes?: string[];
  expires_at?: number | null;
  expires_in?: number | null;
  refresh_possible?: boolean;
  warnings?: string[];
  login_url: string;
}

/** One API's token (protocol.ApiStatus). */
export interface IApiStatus {
  provider: string;
  urls: string[];
  scopes: string[];
  resource?: string | null;
  audience?: string | null;
  ready: boolean;
  expires_at?: number | null;
  expires_in?: number | null;
  obtained_by?: string | null;
  login_url: string;
}

/** The whole status (protocol.Status): the default provider's fields, then all. */
export interface IStatus extends IProviderStatus {
  providers?: Record<string, IProviderStatus>;
  apis?: Record<string, IApiStatus>;
}

/** The name of the top-level provider of the configuration. */
export const DEFAULT_PROVIDER = 'default';

/** How the status item looks: signed in, signed in with a problem, signed out. */
export type Tone = 'ok' | 'warning' | 'signed-out' | 'unavailable';

/** A status as received, with the moment it came, to count its seconds down locally. */
export interface IReceived {
  status: IStatus;
  /** `Date.now()` when the answer arrived. */
  receivedAt: number;
}

/** Every provider's sign-in by name, the default one first. */
export function providersOf(status: IStatus): [string, IProviderStatus][] {
  const all = status.providers ?? { [DEFAULT_PROVIDER]: status };
  const names = Object.keys(all).sort((a, b) =>
    a === DEFAULT_PROVIDER
      ? -1
      : b === DEFAULT_PROVIDER
        ? 1
        : a.localeCompare(b)
  );
  return names.map(name => [name, all[name]]);
}

/** Seconds a token has left now, counted down from when the status arrived. */
export function secondsLeft(
  expiresIn: number | null | undefined,
  receivedAt: number,
  now: number
): number | null {
  if (expiresIn === null || expiresIn === undefined) {
    return null;
  }
  return expiresIn - (now - receivedAt) / 1000;
}

/** "2 h 5 min", "57 min", "40 s", "expired"; "no expiry" without one. */
export function formatLeft(
  seconds: number | null,
  trans: TranslationBundle
): string {
  if (seconds === null) {
    return trans.__('no expiry');
  }
  if (seconds <= 0) {
    return trans.__('expired');
  }
  if (seconds < 60) {
    return trans.__('%1 s', Math.floor(seconds));
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return trans.__('%1 min', minutes);
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 48) {
    return minutes % 60
      ? trans.__('%1 h %2 min', hours, minutes % 60)
      : trans.__('%1 h', hours);
  }
  return trans.__('%1 d', Math.floor(hours / 24));
}

/** Whom a sign-in shows: the display name, else a name claim, else the subject. */
export function whoOf(
  provider: IProviderStatus,
  trans: TranslationBundle
): string {
  const claims = provider.claims ?? {};
  for (const value of [
    provider.display_name,
    claims.name,
    claims.preferred_username,
    claims.email,
    claims.sub
  ]) {
    if (typeof value === 'string' && value) {
      return value;
    }
  }
  return trans.__('unknown user');
}

/** Whether a sign-in ends within `warnSeconds` and cannot be renewed. */
export function endsSoon(
  provider: IProviderStatus,
  receivedAt: number,
  now: number,
  warnSeconds: number
): boolean {
  if (!provider.logged_in || provider.refresh_possible !== false) {
    return false;
  }
  const left = secondsLeft(provider.expires_in, receivedAt, now);
  return left !== null && left <= warnSeconds;
}

/** Whether a signed-in provider needs attention (problemsOf says why). */
export function needsAttention(
  provider: IProviderStatus,
  receivedAt: number,
  now: number,
  warnSeconds: number
): boolean {
  return (
    provider.logged_in &&
    (!!provider.last_refresh_error ||
      endsSoon(provider, receivedAt, now, warnSeconds))
  );
}

/** Why a signed-in provider needs attention, as sentences; none when all is well. */
export function problemsOf(
  provider: IProviderStatus,
  receivedAt: number,
  now: number,
  warnSeconds: number,
  trans: TranslationBundle
): string[] {
  if (!provider.logged_in) {
    return [];
  }
  const problems: string[] = [];
  if (provider.last_refresh_error) {
    // The server's sentence, as it wrote it.
    problems.push(
      trans.__('The last refresh failed: %1', provider.last_refresh_error)
    );
  }
  if (endsSoon(provider, receivedAt, now, warnSeconds)) {
    const left = secondsLeft(provider.expires_in, receivedAt, now);
    problems.push(
      trans.__(
        'This sign-in cannot be renewed and ends in %1; sign in again.',
        formatLeft(left, trans)
      )
    );
  }
  return problems;
}

/** The tone of the whole status. */
export function toneOf(
  received: IReceived | null,
  now: number,
  warnSeconds: number
): Tone {
  if (!received) {
    return 'unavailable';
  }
  const providers = providersOf(received.status);
  if (!providers.some(([, p]) => p.logged_in)) {
    return 'signed-out';
  }
  const troubled = providers.some(
    ([, p]) =>
      !p.logged_in || needsAttention(p, received.receivedAt, now, warnSeconds)
  );
  return troubled ? 'warning' : 'ok';
}

/** The status item's text: who and how long, per provider when there are several. */
export function summaryOf(
  received: IReceived | null,
  now: number,
  trans: TranslationBundle
): string {
  if (!received) {
    return trans.__('Sign-in unavailable');
  }
  const providers = providersOf(received.status);
  if (providers.length === 1 && !providers[0][1].logged_in) {
    return trans.__('Signed out');
  }
  const parts = providers.map(([name, p]) => {
    let part: string;
    if (!p.logged_in) {
      part = trans.__('signed out');
    } else {
      const left = secondsLeft(p.expires_in, received.receivedAt, now);
      const time =
        left !== null && left <= 0 && p.refresh_possible
          ? trans.__('renewing')
          : formatLeft(left, trans);
      part = trans.__('%1 · %2', whoOf(p, trans), time);
    }
    return providers.length > 1 ? trans.__('%1: %2', name, part) : part;
  });
  return parts.join(' | ');
}

/** Labels of the claims people know by name; any other claim shows its own name. */
function claimLabels(trans: TranslationBundle): Record<string, string> {
  return {
    name: trans.__('Name'),
    given_name: trans.__('Given name'),
    family_name: trans.__('Family name'),
    preferred_username: trans.__('User name'),
    email: trans.__('Email'),
    sub: trans.__('Subject'),
    iss: trans.__('Issuer'),
    aud: trans.__('Audience'),
    acr: trans.__('Authentication level'),
    amr: trans.__('Authentication methods'),
    auth_time: trans.__('Signed in at'),
    iat: trans.__('ID token issued'),
    exp: trans.__('ID token expires'),
    groups: trans.__('Groups'),
    roles: trans.__('Roles')
  };
}

/** Claims that are seconds since the epoch: shown as a local date and time. */
const TIME_CLAIMS = ['auth_time', 'iat', 'exp', 'nbf', 'updated_at'];

/** The claims as label and text rows, the known ones first. */
export function claimRows(
  claims: Record<string, unknown>,
  trans: TranslationBundle
): [string, string][] {
  const labels = claimLabels(trans);
  const known = Object.keys(labels).filter(name => name in claims);
  const others = Object.keys(claims)
    .filter(name => !(name in labels))
    .sort();
  return [...known, ...others].map(name => {
    const value = claims[name];
    let text: string;
    if (TIME_CLAIMS.includes(name) && typeof value === 'number') {
      text = new Date(value * 1000).toLocaleString();
    } else if (Array.isArray(value)) {
      text = value.join(', ');
    } else if (value !== null && typeof value === 'object') {
      text = JSON.stringify(value);
    } else {
      text = String(value);
    }
    return [labels[name] ?? name, text];
  });
}
