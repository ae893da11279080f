/**
 * Which notifications the sign-in status calls for; each is shown once.
 */
import { TranslationBundle } from '@jupyterlab/translation';

import { endsSoon, IReceived, providersOf, secondsLeft } from './status';

/** A notification to show: its key (shown once per key), sentence and provider. */
export interface INotice {
  key: string;
  kind: 'signed-out-by-provider' | 'ends-soon';
  provider: string;
  message: string;
}

/**
 * The sentence when the provider ended a sign-in (it refused the refresh token); the
 * provider is named where there are several.
 */
export function signedOutMessage(
  trans: TranslationBundle,
  provider: string | null
): string {
  return provider === null
    ? trans.__('Signed out by the provider; sign in again.')
    : trans.__('Signed out by the provider (%1); sign in again.', provider);
}

/** The sentence when a sign-in without refresh token is about to end. */
export function endsSoonMessage(
  trans: TranslationBundle,
  minutes: number,
  provider: string | null
): string {
  return provider === null
    ? trans._n(
        'Sign-in expires in %1 minute; it cannot be renewed, sign in again to keep working.',
        'Sign-in expires in %1 minutes; it cannot be renewed, sign in again to keep working.',
        minutes
      )
    : trans._n(
        'Sign-in expires in %1 minute (%2); it cannot be renewed, sign in again to keep working.',
        'Sign-in expires in %1 minutes (%2); it cannot be renewed, sign in again to keep working.',
        minutes,
        provider
      );
}

/**
 * The notices for a status seen at `now`, without those already shown (`shown` keys).
 *
 * Provider names are in the sentence only when there are several providers.
 */
export function noticesFor(
  received: IReceived | null,
  now: number,
  warnSeconds: number,
  shown: ReadonlySet<string>,
  trans: TranslationBundle
): INotice[] {
  if (!received) {
    return [];
  }
  const providers = providersOf(received.status);
  const notices: INotice[] = [];
  for (const [name, provider] of providers) {
    const named = providers.length > 1 ? name : null;
    if (!provider.logged_in && provider.signed_out_by_provider) {
      notices.push({
        key: `signed-out:${name}`,
        kind: 'signed-out-by-provider',
        provider: name,
        message: signedOutMessage(trans, named)
      });
    } else if (endsSoon(provider, received.receivedAt, now, warnSeconds)) {
      const left =
        secondsLeft(provider.expires_in, received.receivedAt, now) ?? 0;
      const minutes = Math.max(1, Math.ceil(left / 60));
      notices.push({
        key: `ends-soon:${name}:${provider.expires_at ?? ''}`,
        kind: 'ends-soon',
        provider: name,
        message: endsSoonMessage(trans, minutes, named)
      });
    }
  }
  return notices.filter(notice => !shown.has(notice.key));
}

/**
 * Remembers which notices were shown; a provider signed in again may be told again.
 */
export class NoticeBook {
  constructor(private trans: TranslationBundle) {}

  /** The notices of `received` not shown yet; they count as shown from now on. */
  take(
    received: IReceived | null,
    now: number,
    warnSeconds: number
  ): INotice[] {
    if (received) {
      for (const [name, provider] of providersOf(received.status)) {
        if (provider.logged_in) {
          this._shown.delete(`signed-out:${name}`);
        }
      }
    }
    const notices = noticesFor(
      received,
      now,
      warnSeconds,
      this._shown,
      this.trans
    );
    notices.forEach(notice => this._shown.add(notice.key));
    return notices;
  }

  private _shown = new Set<string>();
}
