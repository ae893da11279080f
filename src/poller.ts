/**
 * One polling loop for every view of the sign-in status in a page.
 *
 * A request every `interval` while the page is visible; while it is hidden, the pause
 * doubles up to `maxInterval`; after a failed request it doubles too. `refresh()` asks
 * at once (after a sign-in or sign-out anywhere), and requests never overlap.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { IReceived, IStatus } from './status';

/** Milliseconds after an answer during which waking up asks nothing. */
const WAKE_QUIET = 1000;

/** What one request brings: a new status, or null when it has not changed (304). */
export interface IFetched {
  status: IStatus | null;
  etag: string | null;
}

/** Asks the server; `etag` is the marker of the status held (for If-None-Match). */
export type Fetcher = (etag: string | null) => Promise<IFetched>;

export interface IPollerOptions {
  fetch: Fetcher;
  /** Milliseconds between two requests while the page is visible. */
  interval: number;
  /** The longest pause, while hidden or failing. */
  maxInterval: number;
  /** Whether the page is hidden now (defaults to `document.hidden`). */
  isHidden?: () => boolean;
}

export class StatusPoller {
  constructor(options: IPollerOptions) {
    this._fetch = options.fetch;
    this._interval = options.interval;
    this._maxInterval = options.maxInterval;
    this._isHidden = options.isHidden ?? (() => document.hidden);
  }

  /** Emitted with every new status (not for an unchanged one). */
  get changed(): ISignal<this, IReceived> {
    return this._changed;
  }

  /** Emitted when a request failed, with its error; the last status stays. */
  get failed(): ISignal<this, Error> {
    return this._failed;
  }

  /** The last status received, or null before the first answer. */
  get received(): IReceived | null {
    return this._received;
  }

  /** Milliseconds until the next request as planned now (for tests and diagnostics). */
  get pause(): number {
    return this._pause;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Milliseconds between two requests while visible. */
  set interval(value: number) {
    this._interval = value;
  }

  /** Start polling: the first request goes at once. */
  start(): void {
    void this.refresh();
  }

  /** Ask now; a request under way is followed by one more. */
  async refresh(): Promise<void> {
    if (this._disposed) {
      return;
    }
    if (this._inflight) {
      this._again = true;
      return this._inflight;
    }
    this._clearTimer();
    this._inflight = this._tick();
    try {
      await this._inflight;
    } finally {
      this._inflight = null;
    }
    if (this._again && !this._disposed) {
      this._again = false;
      return this.refresh();
    }
  }

  /** Ask again a little later, e.g. after a click whose effect takes the kernel a moment. */
  refreshSoon(delays: number[] = [700, 2500]): void {
    for (const delay of delays) {
      const timer = setTimeout(() => {
        this._soon.delete(timer);
        void this.refresh();
      }, delay);
      this._soon.add(timer);
    }
  }

  /**
   * The page became visible again, or got the focus: ask now (unless an answer came
   * within the last second: both events come together), then at the normal pace.
   */
  wake(): void {
    if (this._isHidden()) {
      return;
    }
    this._hiddenPause = 0;
    const since = Date.now() - this._answeredAt;
    if (since >= WAKE_QUIET) {
      void this.refresh();
    } else if (!this._inflight && !this._disposed) {
      // Fresh enough to show, but the next request was planned at a hidden page's pace.
      this._plan(Math.max(this._interval - since, 0));
    }
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._clearTimer();
    this._soon.forEach(timer => clearTimeout(timer));
    this._soon.clear();
    Signal.clearData(this);
  }

  private async _tick(): Promise<void> {
    let ok = true;
    try {
      const fetched = await this._fetch(this._etag);
      this._failures = 0;
      if (fetched.status !== null) {
        this._etag = fetched.etag;
        this._received = { status: fetched.status, receivedAt: Date.now() };
        if (!this._disposed) {
          this._changed.emit(this._received);
        }
      }
      this._answeredAt = Date.now();
    } catch (error) {
      ok = false;
      this._failures += 1;
      if (!this._disposed) {
        this._failed.emit(error as Error);
      }
    }
    this._schedule(ok);
  }

  private _schedule(ok: boolean): void {
    if (this._disposed) {
      return;
    }
    let pause = this._interval;
    if (!ok) {
      pause = this._interval * 2 ** Math.min(this._failures, 10);
    }
    if (this._isHidden()) {
      this._hiddenPause = this._hiddenPause
        ? this._hiddenPause * 2
        : this._interval * 2;
      pause = Math.max(pause, this._hiddenPause);
    } else {
      this._hiddenPause = 0;
    }
    this._plan(Math.min(pause, this._maxInterval));
  }

  /** The next request in `pause` milliseconds, instead of the one planned. */
  private _plan(pause: number): void {
    this._pause = pause;
    this._clearTimer();
    this._timer = setTimeout(() => void this.refresh(), pause);
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _fetch: Fetcher;
  private _interval: number;
  private _maxInterval: number;
  private _isHidden: () => boolean;
  private _etag: string | null = null;
  private _received: IReceived | null = null;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _soon = new Set<ReturnType<typeof setTimeout>>();
  private _inflight: Promise<void> | null = null;
  private _again = false;
  private _failures = 0;
  private _hiddenPause = 0;
  private _pause = 0;
  private _answeredAt = -Infinity;
  private _disposed = false;
  private _changed = new Signal<this, IReceived>(this);
  private _failed = new Signal<this, Error>(this);
}
