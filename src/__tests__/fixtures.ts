import { bundleOf } from '../i18n';
import { IStatus } from '../status';

/** The interface's strings as they are written: English, without a translator. */
export const EN = bundleOf();

/** The moment every test counts from (milliseconds, as `Date.now()`). */
export const NOW = 1_700_000_000_000;

/** Alice's renewable sign-in, 57 minutes left at NOW; `extra` changes any field. */
export function signedIn(extra: Partial<IStatus> = {}): IStatus {
  return {
    logged_in: true,
    display_name: 'Alice Example',
    claims: { name: 'Alice Example', sub: 'alice' },
    scopes: ['openid', 'offline_access'],
    expires_at: NOW / 1000 + 3420,
    expires_in: 3420,
    refresh_possible: true,
    login_url: '/nevis/login',
    ...extra
  };
}

/** A provider's sign-in that its provider ended. */
export const revoked: IStatus = {
  logged_in: false,
  signed_out_reason: 'Your session at the provider has ended; sign in again.',
  signed_out_by_provider: true,
  login_url: '/nevis/login'
};
