import { ServerConnection } from '@jupyterlab/services';

import { fetchStatus, signOut, signOutPageUrl } from '../server';
import { EN } from './fixtures';

/** Server settings whose requests `answer` answers, recording each request. */
function server(answer: (request: Request) => Response) {
  const requests: Request[] = [];
  const fetch = jest.fn(async (input: RequestInfo, init?: RequestInit) => {
    const request = new Request(input, init);
    requests.push(request);
    return answer(request);
  });
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/base/',
    fetch: fetch as unknown as typeof window.fetch,
    Request,
    Headers
  });
  return { settings, requests };
}

describe('fetchStatus', () => {
  it('sends the marker back and reads a 304 as unchanged', async () => {
    const { settings, requests } = server(
      () => new Response(null, { status: 304 })
    );
    expect(await fetchStatus(settings, '"abc"', EN)).toEqual({
      status: null,
      etag: '"abc"'
    });
    // (JupyterLab adds a cache buster to the query.)
    expect(requests[0].url.split('?')[0]).toBe(
      'http://localhost:8888/base/nevis/api/status'
    );
    expect(requests[0].headers.get('If-None-Match')).toBe('"abc"');
  });

  it('reads a new status and its marker', async () => {
    const body = { logged_in: false, login_url: '/base/nevis/login' };
    const { settings } = server(
      () =>
        new Response(JSON.stringify(body), {
          status: 200,
          headers: { ETag: '"new"' }
        })
    );
    expect(await fetchStatus(settings, null, EN)).toEqual({
      status: body,
      etag: '"new"'
    });
  });

  it("fails with the server's sentence", async () => {
    const { settings } = server(
      () =>
        new Response(
          JSON.stringify({
            error: 'request_refused',
            message: 'Only the owner.'
          }),
          {
            status: 403
          }
        )
    );
    await expect(fetchStatus(settings, null, EN)).rejects.toThrow(
      'Only the owner.'
    );
  });
});

describe('signOut', () => {
  it('posts the sign-out form', async () => {
    const { settings, requests } = server(
      () => new Response('signed out', { status: 200 })
    );
    expect(await signOut(settings, EN, 'partner')).toBe(true);
    expect(requests[0].method).toBe('POST');
    expect(requests[0].url.split('?')[0]).toBe(
      'http://localhost:8888/base/nevis/logout'
    );
    expect(await requests[0].text()).toBe('provider=partner');
  });

  it('says when only the sign-out page can sign out (JupyterHub service)', async () => {
    const { settings } = server(() => new Response('', { status: 405 }));
    expect(await signOut(settings, EN)).toBe(false);
  });

  it('names the provider on the sign-out page', () => {
    expect(signOutPageUrl('http://localhost:8888/base/', 'partner')).toBe(
      'http://localhost:8888/base/nevis/logout?provider=partner'
    );
    expect(signOutPageUrl('http://localhost:8888/base/')).toBe(
      'http://localhost:8888/base/nevis/logout'
    );
  });

  it('fails on an error page', async () => {
    const { settings } = server(() => new Response('', { status: 502 }));
    await expect(signOut(settings, EN)).rejects.toThrow(
      'Signing out failed (HTTP 502).'
    );
  });
});
