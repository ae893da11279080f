/**
 * The status bar item (in Notebook 7: an item of the top bar): who is signed in and how
 * long the token has left; a button that opens the details.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { summaryOf, toneOf, IReceived, Tone } from './status';

export class SignInItem extends Widget {
  constructor(
    onOpen: () => void,
    private trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-NevisAuth-item');
    this._button = document.createElement('button');
    this._button.type = 'button';
    this._button.className = 'jp-NevisAuth-itemButton';
    this._button.setAttribute('aria-haspopup', 'dialog');
    this._button.setAttribute('aria-expanded', 'false');
    this._icon = document.createElement('span');
    this._icon.className = 'jp-NevisAuth-itemIcon';
    this._icon.setAttribute('aria-hidden', 'true');
    this._text = document.createElement('span');
    this._text.className = 'jp-NevisAuth-itemText';
    this._button.append(this._icon, this._text);
    this._button.addEventListener('click', () => onOpen());
    this.node.appendChild(this._button);
    this.render(null, Date.now(), 300);
  }

  /** The element that keeps the focus when the details close. */
  get button(): HTMLButtonElement {
    return this._button;
  }

  get tone(): Tone {
    return this._tone;
  }

  /** Show `received` as of `now`, warning when a sign-in that cannot renew has `warnSeconds` left. */
  render(received: IReceived | null, now: number, warnSeconds: number): void {
    const trans = this.trans;
    const text = summaryOf(received, now, trans);
    const tone = toneOf(received, now, warnSeconds);
    if (text !== this._text.textContent) {
      this._text.textContent = text;
    }
    if (tone !== this._tone || !this.node.dataset.tone) {
      this._tone = tone;
      this.node.dataset.tone = tone;
    }
    const hint = {
      ok: trans.__('Signed in'),
      warning: trans.__('Signed in, needs attention'),
      'signed-out': trans.__('Signed out'),
      unavailable: trans.__('Sign-in status not available')
    }[tone];
    const label = trans.__('%1: %2. Show sign-in status.', hint, text);
    if (this._button.title !== label) {
      this._button.title = label;
      this._button.setAttribute('aria-label', label);
    }
    this._icon.textContent =
      tone === 'ok' ? '●' : tone === 'signed-out' ? '○' : '!';
  }

  private _button: HTMLButtonElement;
  private _icon: HTMLSpanElement;
  private _text: HTMLSpanElement;
  private _tone: Tone = 'unavailable';
}
