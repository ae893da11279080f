import { IFetched, StatusPoller } from '../poller';
import { IStatus } from '../status';

const STATUS: IStatus = { logged_in: false, login_url: '/nevis/login' };

/** Lets pending promise callbacks run under fake timers. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await Promise.resolve();
  }
}

function poller(answers: Array<IFetched | Error>, hidden = { value: false }) {
  const calls: Array<string | null> = [];
  const fetch = jest.fn(async (etag: string | null) => {
    calls.push(etag);
    const answer = answers.length > 1 ? answers.shift()! : answers[0];
    if (answer instanceof Error) {
      throw answer;
    }
    return answer;
  });
  const p = new StatusPoller({
    fetch,
    interval: 10_000,
    maxInterval: 300_000,
    isHidden: () => hidden.value
  });
  return { p, fetch, calls };
}

describe('StatusPoller', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('asks at once, then once per interval, sending back the marker', async () => {
    const { p, fetch, calls } = poller([
      { status: STATUS, etag: '"one"' },
      { status: null, etag: '"one"' }
    ]);
    const changed = jest.fn();
    p.changed.connect(changed);
    p.start();
    await settle();
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(changed).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(9_999);
    await settle();
    expect(fetch).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(1);
    await settle();
    expect(calls).toEqual([null, '"one"']);
    // 304: nothing new to show.
    expect(changed).toHaveBeenCalledTimes(1);
    expect(p.received?.status).toBe(STATUS);
    p.dispose();
  });

  it('doubles the pause while the page is hidden, and asks at once when it is back', async () => {
    const hidden = { value: true };
    const { p, fetch } = poller([{ status: null, etag: null }], hidden);
    p.start();
    await settle();
    const pauses = [p.pause];
    for (let i = 0; i < 6; i++) {
      jest.advanceTimersByTime(p.pause);
      await settle();
      pauses.push(p.pause);
    }
    expect(pauses).toEqual([
      20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000
    ]);
    const before = fetch.mock.calls.length;
    jest.advanceTimersByTime(1000);
    hidden.value = false;
    p.wake();
    await settle();
    expect(fetch).toHaveBeenCalledTimes(before + 1);
    expect(p.pause).toBe(10_000);
    // Focus and visibility come together: the second asks nothing.
    p.wake();
    await settle();
    expect(fetch).toHaveBeenCalledTimes(before + 1);
    p.dispose();
  });

  it('comes back to the normal pace when the page is back just after an answer', async () => {
    const hidden = { value: true };
    const { p, fetch } = poller([{ status: null, etag: null }], hidden);
    p.start();
    await settle();
    jest.advanceTimersByTime(p.pause);
    await settle();
    expect(p.pause).toBe(40_000);
    // Back within the second after that answer: nothing asked now, the next one within
    // the interval of the answer, not after the hidden page's pause.
    jest.advanceTimersByTime(500);
    hidden.value = false;
    const before = fetch.mock.calls.length;
    p.wake();
    await settle();
    expect(fetch).toHaveBeenCalledTimes(before);
    expect(p.pause).toBe(9_500);
    jest.advanceTimersByTime(9_500);
    await settle();
    expect(fetch).toHaveBeenCalledTimes(before + 1);
    expect(p.pause).toBe(10_000);
    p.dispose();
  });

  it('backs off after failures and says why', async () => {
    const { p } = poller([
      new Error('down'),
      new Error('down'),
      { status: STATUS, etag: 'x' }
    ]);
    const failed = jest.fn();
    p.failed.connect((_, error) => failed(error.message));
    p.start();
    await settle();
    expect(p.pause).toBe(20_000);
    jest.advanceTimersByTime(20_000);
    await settle();
    expect(p.pause).toBe(40_000);
    jest.advanceTimersByTime(40_000);
    await settle();
    expect(p.pause).toBe(10_000);
    expect(failed.mock.calls).toEqual([['down'], ['down']]);
    p.dispose();
  });

  it('never overlaps requests: a refresh during one asks once more after it', async () => {
    let release: (value: IFetched) => void = () => undefined;
    const fetch = jest.fn(
      () => new Promise<IFetched>(resolve => (release = resolve))
    );
    const p = new StatusPoller({
      fetch,
      interval: 10_000,
      maxInterval: 300_000,
      isHidden: () => false
    });
    p.start();
    void p.refresh();
    void p.refresh();
    expect(fetch).toHaveBeenCalledTimes(1);
    release({ status: STATUS, etag: 'a' });
    await settle();
    expect(fetch).toHaveBeenCalledTimes(2);
    release({ status: null, etag: 'a' });
    await settle();
    expect(fetch).toHaveBeenCalledTimes(2);
    p.dispose();
  });

  it('asks again shortly after a widget click, and stops when disposed', async () => {
    const { p, fetch } = poller([{ status: null, etag: null }]);
    p.start();
    await settle();
    p.refreshSoon([700, 2500]);
    jest.advanceTimersByTime(700);
    await settle();
    expect(fetch).toHaveBeenCalledTimes(2);
    p.dispose();
    jest.advanceTimersByTime(60_000);
    await settle();
    expect(fetch).toHaveBeenCalledTimes(2);
  });
});
