/**
 * Word between the pages of this server that a sign-in changed: the sign-in and sign-out
 * pages and every JupyterLab or Notebook tab post to one BroadcastChannel. A message says
 * only that something changed; the status itself is always read from the server.
 */

/** The channel's name, before the server's base path (one channel per Jupyter server). */
export const CHANNEL_PREFIX = 'jupyter-nevis-auth:';

/** The channel of the server at `basePath`; its nevis/done and signed-out pages post to it. */
export function channelName(basePath: string): string {
  return CHANNEL_PREFIX + basePath;
}

export class ChangeChannel {
  constructor(basePath: string, onChange: () => void) {
    if (typeof BroadcastChannel === 'undefined') {
      return;
    }
    this._channel = new BroadcastChannel(channelName(basePath));
    this._channel.onmessage = () => onChange();
  }

  /** Tell the other pages that the sign-in changed. */
  post(): void {
    this._channel?.postMessage('changed');
  }

  dispose(): void {
    this._channel?.close();
    this._channel = null;
  }

  private _channel: BroadcastChannel | null = null;
}
