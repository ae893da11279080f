import {
  claimRows,
  formatLeft,
  IStatus,
  problemsOf,
  providersOf,
  summaryOf,
  toneOf
} from '../status';
import { EN, NOW, signedIn } from './fixtures';

describe('formatLeft', () => {
  it.each([
    [null, 'no expiry'],
    [-3, 'expired'],
    [0, 'expired'],
    [42.9, '42 s'],
    [60, '1 min'],
    [3420, '57 min'],
    [3600, '1 h'],
    [3900, '1 h 5 min'],
    [3 * 86400, '3 d']
  ])('%p seconds read %p', (seconds, text) => {
    expect(formatLeft(seconds as number | null, EN)).toBe(text);
  });
});

describe('summaryOf', () => {
  it('says who and how long, counting down from when the status came', () => {
    const received = { status: signedIn(), receivedAt: NOW };
    expect(summaryOf(received, NOW, EN)).toBe('Alice Example · 57 min');
    expect(summaryOf(received, NOW + 3400_000, EN)).toBe(
      'Alice Example · 20 s'
    );
    expect(summaryOf(received, NOW + 3500_000, EN)).toBe(
      'Alice Example · renewing'
    );
  });

  it('says signed out, and unavailable before any answer', () => {
    const status: IStatus = { logged_in: false, login_url: '/nevis/login' };
    expect(summaryOf({ status, receivedAt: NOW }, NOW, EN)).toBe('Signed out');
    expect(summaryOf(null, NOW, EN)).toBe('Sign-in unavailable');
  });

  it('names each provider when there are several, the default first', () => {
    const partner = {
      logged_in: false,
      login_url: '/nevis/login?provider=partner'
    };
    const status = signedIn({
      providers: { partner, default: signedIn() }
    });
    expect(providersOf(status).map(([name]) => name)).toEqual([
      'default',
      'partner'
    ]);
    expect(summaryOf({ status, receivedAt: NOW }, NOW, EN)).toBe(
      'default: Alice Example · 57 min | partner: signed out'
    );
  });
});

describe('toneOf', () => {
  const warn = 300;

  it('is ok for a renewable sign-in, signed-out without one', () => {
    expect(toneOf({ status: signedIn(), receivedAt: NOW }, NOW, warn)).toBe(
      'ok'
    );
    const out: IStatus = { logged_in: false, login_url: '/nevis/login' };
    expect(toneOf({ status: out, receivedAt: NOW }, NOW, warn)).toBe(
      'signed-out'
    );
    expect(toneOf(null, NOW, warn)).toBe('unavailable');
  });

  it('warns after a failed refresh', () => {
    const status = signedIn({
      last_refresh_error: 'The provider did not answer.'
    });
    expect(toneOf({ status, receivedAt: NOW }, NOW, warn)).toBe('warning');
    expect(problemsOf(status, NOW, NOW, warn, EN)).toEqual([
      'The last refresh failed: The provider did not answer.'
    ]);
  });

  it('warns when a sign-in without refresh token ends within the warning time', () => {
    const status = signedIn({ refresh_possible: false, expires_in: 600 });
    const received = { status, receivedAt: NOW };
    expect(toneOf(received, NOW, warn)).toBe('ok');
    expect(toneOf(received, NOW + 301_000, warn)).toBe('warning');
    // A renewable sign-in never warns for its expiry.
    const renewable = { status: signedIn({ expires_in: 10 }), receivedAt: NOW };
    expect(toneOf(renewable, NOW, warn)).toBe('ok');
  });

  it('warns when one of several providers is signed out', () => {
    const partner = {
      logged_in: false,
      login_url: '/nevis/login?provider=partner'
    };
    const status = signedIn({ providers: { default: signedIn(), partner } });
    expect(toneOf({ status, receivedAt: NOW }, NOW, warn)).toBe('warning');
  });
});

describe('claimRows', () => {
  it('labels known claims by name, known ones first, lists joined', () => {
    const rows = claimRows(
      {
        zeta: 'z',
        email: 'alice@example.org',
        name: 'Alice Example',
        groups: ['a', 'b']
      },
      EN
    );
    expect(rows).toEqual([
      ['Name', 'Alice Example'],
      ['Email', 'alice@example.org'],
      ['Groups', 'a, b'],
      ['zeta', 'z']
    ]);
  });
});
