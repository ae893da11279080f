import { SignInItem } from '../item';
import { SignInPanel } from '../panel';
import { signInUrl } from '../server';
import { IStatus } from '../status';
import { EN, NOW, signedIn } from './fixtures';

const status: IStatus = signedIn({
  scopes: ['openid', 'api'],
  expires_at: NOW / 1000 + 600,
  expires_in: 600,
  refresh_possible: false,
  warnings: ['The provider issued no refresh token.'],
  login_url: '/base/nevis/login',
  apis: {
    sales: {
      provider: 'default',
      urls: ['https://sales.example/'],
      scopes: ['sales.read'],
      ready: true,
      expires_in: 120,
      obtained_by: 'narrowed refresh',
      login_url: '/base/nevis/login?api=sales'
    }
  }
});

describe('SignInItem', () => {
  it('is a labelled button whose tone follows the status', () => {
    const item = new SignInItem(() => undefined, EN);
    item.render({ status, receivedAt: NOW }, NOW, 300);
    expect(item.button.tagName).toBe('BUTTON');
    expect(item.node.dataset.tone).toBe('ok');
    expect(item.button.getAttribute('aria-label')).toBe(
      'Signed in: Alice Example · 10 min. Show sign-in status.'
    );
    item.render({ status, receivedAt: NOW }, NOW + 301_000, 300);
    expect(item.node.dataset.tone).toBe('warning');
  });

  it('opens the details on click', () => {
    const open = jest.fn();
    const item = new SignInItem(open, EN);
    item.button.click();
    expect(open).toHaveBeenCalled();
  });
});

describe('SignInPanel', () => {
  it('shows claims by name, scopes, APIs and the actions', () => {
    const signIn = jest.fn();
    const signOut = jest.fn();
    const panel = new SignInPanel(
      { signIn, signOut, refresh: jest.fn() },
      300,
      EN
    );
    panel.render({ status, receivedAt: NOW }, NOW);
    const text = panel.node.textContent ?? '';
    expect(text).toContain('Signed in as Alice Example');
    expect(text).toContain(
      'Access token: 10 min left; it cannot be renewed, sign in again when it ends.'
    );
    expect(text).toContain('Scopes: openid api');
    expect(text).toContain('The provider issued no refresh token.');
    const claims = Array.from(
      panel.node.querySelectorAll('.jp-NevisAuth-claims tbody tr')
    ).map(row => row.textContent);
    expect(claims).toEqual(['NameAlice Example', 'Subjectalice']);
    const apis = panel.node.querySelector('.jp-NevisAuth-apis tbody tr');
    expect(apis?.textContent).toBe('salessales.read2 minnarrowed refresh');

    const buttons = Array.from(panel.node.querySelectorAll('button')).map(
      b => b.textContent
    );
    expect(buttons).toEqual(['Sign out', 'Refresh']);
    (
      panel.node.querySelector('.jp-NevisAuth-signOut') as HTMLButtonElement
    ).click();
    expect(signOut).toHaveBeenCalled();
  });

  it('signs out of one provider of several, or of all', () => {
    const signOut = jest.fn();
    const panel = new SignInPanel(
      { signIn: jest.fn(), signOut, refresh: jest.fn() },
      300,
      EN
    );
    const partner = signedIn({
      display_name: 'alice',
      claims: { sub: 'alice' }
    });
    const both = signedIn({ providers: { default: signedIn(), partner } });
    panel.render({ status: both, receivedAt: NOW }, NOW);
    const section = panel.node.querySelector(
      '.jp-NevisAuth-provider[data-provider="partner"]'
    ) as HTMLElement;
    const own = section.querySelector('button') as HTMLButtonElement;
    expect(own.textContent).toBe('Sign out of partner');
    own.click();
    expect(signOut).toHaveBeenLastCalledWith('partner');
    const all = panel.node.querySelector(
      '.jp-NevisAuth-signOut'
    ) as HTMLButtonElement;
    expect(all.textContent).toBe('Sign out of all');
    all.click();
    expect(signOut).toHaveBeenLastCalledWith();
  });

  it('keeps the actions below the details, out of their scrolling', () => {
    const panel = new SignInPanel(
      { signIn: jest.fn(), signOut: jest.fn(), refresh: jest.fn() },
      300,
      EN
    );
    for (const received of [null, { status, receivedAt: NOW }]) {
      panel.render(received, NOW);
      const children = Array.from(panel.node.children).map(c => c.className);
      expect(children).toEqual([
        'jp-NevisAuth-title',
        'jp-NevisAuth-details',
        'jp-NevisAuth-actions'
      ]);
      expect(panel.node.querySelector('.jp-NevisAuth-details button')).toBe(
        null
      );
    }
  });

  it('counts down in place, keeping its elements, until a warning is due', () => {
    const panel = new SignInPanel(
      { signIn: jest.fn(), signOut: jest.fn(), refresh: jest.fn() },
      300,
      EN
    );
    const received = { status, receivedAt: NOW };
    panel.render(received, NOW);
    const line = panel.node.querySelector('[data-token-of="default"]');
    panel.render(received, NOW + 120_000);
    expect(panel.node.querySelector('[data-token-of="default"]')).toBe(line);
    expect(line?.textContent).toContain('8 min left');
    panel.render(received, NOW + 540_000);
    expect(panel.node.textContent).toContain(
      'cannot be renewed and ends in 1 min'
    );
  });

  it('offers the sign-in when signed out, with the reason', () => {
    const signIn = jest.fn();
    const panel = new SignInPanel(
      { signIn, signOut: jest.fn(), refresh: jest.fn() },
      300,
      EN
    );
    const out: IStatus = {
      logged_in: false,
      signed_out_reason: 'You signed out.',
      login_url: '/nevis/login'
    };
    panel.render({ status: out, receivedAt: NOW }, NOW);
    expect(panel.node.textContent).toContain('You signed out.');
    (
      panel.node.querySelector('.jp-NevisAuth-signIn') as HTMLButtonElement
    ).click();
    expect(signIn).toHaveBeenCalledWith('default');
  });
});

describe('signInUrl', () => {
  it('keeps the provider or API of the login URL and ends on nevis/done', () => {
    // nevis/done is told what the sign-in was for, to speak of it.
    expect(
      signInUrl('/base/nevis/login?api=sales', 'http://host:8888/base/')
    ).toBe(
      'http://host:8888/base/nevis/login?api=sales&next=%2Fbase%2Fnevis%2Fdone%3Fapi%3Dsales'
    );
    expect(
      signInUrl('/nevis/login?provider=partner', 'http://localhost:8888/')
    ).toBe(
      'http://localhost:8888/nevis/login?provider=partner&next=%2Fnevis%2Fdone%3Fprovider%3Dpartner'
    );
    expect(signInUrl('/nevis/login', 'http://localhost:8888/')).toBe(
      'http://localhost:8888/nevis/login?next=%2Fnevis%2Fdone'
    );
  });
});
