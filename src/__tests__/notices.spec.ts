import { NoticeBook } from '../notices';
import { IStatus } from '../status';
import { EN, NOW, revoked, signedIn } from './fixtures';

const WARN = 300;

describe('NoticeBook', () => {
  it('tells once that the provider signed the user out, again after a new sign-in', () => {
    const book = new NoticeBook(EN);
    const first = book.take({ status: revoked, receivedAt: NOW }, NOW, WARN);
    expect(first).toEqual([
      {
        key: 'signed-out:default',
        kind: 'signed-out-by-provider',
        provider: 'default',
        message: 'Signed out by the provider; sign in again.'
      }
    ]);
    expect(
      book.take({ status: revoked, receivedAt: NOW }, NOW + 1000, WARN)
    ).toEqual([]);
    expect(
      book.take({ status: signedIn(), receivedAt: NOW }, NOW, WARN)
    ).toEqual([]);
    expect(
      book.take({ status: revoked, receivedAt: NOW }, NOW, WARN)
    ).toHaveLength(1);
  });

  it('says nothing for a sign-out of the user', () => {
    const book = new NoticeBook(EN);
    const status: IStatus = {
      logged_in: false,
      signed_out_reason: 'You signed out.',
      signed_out_by_provider: false,
      login_url: '/nevis/login'
    };
    expect(book.take({ status, receivedAt: NOW }, NOW, WARN)).toEqual([]);
  });

  it('warns once before a sign-in without refresh token ends', () => {
    const book = new NoticeBook(EN);
    const received = {
      status: signedIn({ refresh_possible: false, expires_in: 900 }),
      receivedAt: NOW
    };
    expect(book.take(received, NOW, WARN)).toEqual([]);
    const notices = book.take(received, NOW + 600_500, WARN);
    expect(notices.map(n => n.message)).toEqual([
      'Sign-in expires in 5 minutes; it cannot be renewed, sign in again to keep working.'
    ]);
    expect(book.take(received, NOW + 660_000, WARN)).toEqual([]);
  });

  it('never warns about the expiry of a renewable sign-in', () => {
    const book = new NoticeBook(EN);
    const received = { status: signedIn({ expires_in: 30 }), receivedAt: NOW };
    expect(book.take(received, NOW, WARN)).toEqual([]);
  });

  it('names the provider when there are several', () => {
    const book = new NoticeBook(EN);
    const status = signedIn({
      providers: { default: signedIn(), partner: revoked }
    });
    const [notice] = book.take({ status, receivedAt: NOW }, NOW, WARN);
    expect(notice.provider).toBe('partner');
    expect(notice.message).toBe(
      'Signed out by the provider (partner); sign in again.'
    );
  });
});
