/**
 * The sign-in status in the page: the status bar item (in Notebook 7 the top bar's), its
 * details, the commands, the notifications and the settings. Everything comes from
 * nevis/api/status. Loaded when the plugin activates, not with the application.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar, Popup, showPopup } from '@jupyterlab/statusbar';
import { ITranslator, TranslationBundle } from '@jupyterlab/translation';
import { ReadonlyJSONObject } from '@lumino/coreutils';
import { Signal } from '@lumino/signaling';

import { ChangeChannel } from './channel';
import { bundleOf } from './i18n';
import { CommandIDs, PLUGIN_ID } from './ids';
import { SignInItem } from './item';
import { NoticeBook } from './notices';
import { SignInPanel } from './panel';
import { StatusPoller } from './poller';
import { fetchStatus, signInUrl, signOut, signOutPageUrl } from './server';
import {
  DEFAULT_PROVIDER,
  IReceived,
  providersOf,
  secondsLeft
} from './status';

/** The settings as the schema defines them. */
interface ISettings {
  showStatusItem: boolean;
  warningMinutes: number;
  pollSeconds: number;
}

const DEFAULTS: ISettings = {
  showStatusItem: true,
  warningMinutes: 5,
  pollSeconds: 10
};
/** The longest pause between two requests: while the page is hidden or the server fails. */
const MAX_PAUSE = 5 * 60 * 1000;
/** The details' times are redrawn this often while they are open. */
const PANEL_REDRAW = 5000;

class SignInController {
  constructor(
    private app: JupyterFrontEnd,
    private statusBar: IStatusBar | null,
    private trans: TranslationBundle
  ) {
    const serverSettings = app.serviceManager.serverSettings;
    this._baseUrl = serverSettings.baseUrl;
    this._book = new NoticeBook(trans);
    this.poller = new StatusPoller({
      fetch: etag => fetchStatus(serverSettings, etag, trans),
      interval: DEFAULTS.pollSeconds * 1000,
      maxInterval: MAX_PAUSE
    });
    this.poller.changed.connect(() => this._update());
    this.poller.failed.connect((_, error) => {
      this._error = error.message;
      this._redraw(true);
    });
    this._channel = new ChangeChannel(new URL(this._baseUrl).pathname, () =>
      this.poller.refresh()
    );
    this.item = new SignInItem(() => this.toggleDetails(), trans);
    this.item.id = 'jp-NevisAuth-item';
    document.addEventListener('visibilitychange', this._onVisibility);
    window.addEventListener('focus', this._onVisibility);
    // The notebook widget's buttons act through the kernel: look again once it has.
    document.addEventListener('click', this._onClick, true);
    this._ticker = setInterval(() => this._redraw(false), 1000);
  }

  readonly poller: StatusPoller;
  readonly item: SignInItem;
  /** Emitted when the item's visibility setting changes. */
  readonly itemVisibility = new Signal<this, void>(this);

  get settings(): ISettings {
    return this._settings;
  }

  set settings(value: ISettings) {
    this._settings = value;
    this.poller.interval = value.pollSeconds * 1000;
    this.itemVisibility.emit();
    if (!this.statusBar) {
      this.item.setHidden(!value.showStatusItem);
    }
    this._redraw(true);
  }

  get signedIn(): boolean {
    const received = this.poller.received;
    return (
      !!received && providersOf(received.status).some(([, p]) => p.logged_in)
    );
  }

  /** Open the provider's sign-in in a new window; the status follows when it is done. */
  signIn(provider?: string): void {
    const received = this.poller.received;
    const providers = received ? providersOf(received.status) : [];
    const name =
      provider ??
      providers.find(([, p]) => !p.logged_in)?.[0] ??
      DEFAULT_PROVIDER;
    const status = providers.find(([n]) => n === name)?.[1];
    const basePath = new URL(this._baseUrl).pathname;
    const loginUrl =
      status?.login_url ??
      `${basePath}nevis/login` +
        (name === DEFAULT_PROVIDER
          ? ''
          : `?provider=${encodeURIComponent(name)}`);
    // noopener: the provider's pages get no handle on this one. nevis/done tells every
    // tab (BroadcastChannel) and closes itself; coming back to this tab looks again too.
    window.open(
      signInUrl(loginUrl, this._baseUrl),
      '_blank',
      'noopener,popup,width=560,height=760'
    );
  }

  /** Sign out of `provider` (of every provider without one), then say so. */
  async signOut(provider?: string): Promise<void> {
    try {
      const settings = this.app.serviceManager.serverSettings;
      if (!(await signOut(settings, this.trans, provider))) {
        // Signing out happens on the page (JupyterHub's service): open it; it confirms,
        // and coming back to this tab looks again.
        window.open(
          signOutPageUrl(this._baseUrl, provider),
          '_blank',
          'noopener,popup,width=560,height=520'
        );
        return;
      }
    } catch (error) {
      Notification.error((error as Error).message, { autoClose: 8000 });
      return;
    }
    this._channel.post();
    await this.poller.refresh();
    Notification.success(
      provider
        ? this.trans.__('Signed out of %1.', provider)
        : this.trans.__('Signed out.'),
      { autoClose: 5000 }
    );
  }

  /** Open the details (anchored to the status bar item where there is one), or close them. */
  toggleDetails(): void {
    if (this._popup && !this._popup.isDisposed) {
      this._popup.dispose();
      return;
    }
    this.showDetails();
  }

  showDetails(): void {
    const panel = this._newPanel();
    if (this.statusBar && this.item.isAttached && this.item.isVisible) {
      this._popup = showPopup({
        body: panel,
        anchor: this.item,
        align: 'right',
        hasDynamicSize: true
      });
      // Escape closes the details wherever the focus is (the popup hears it only inside).
      const onKeydown = (event: KeyboardEvent) => {
        if (event.key === 'Escape') {
          this._popup?.dispose();
        }
      };
      document.addEventListener('keydown', onKeydown);
      this.item.button.setAttribute('aria-expanded', 'true');
      this._popup.disposed.connect(() => {
        this.item.button.setAttribute('aria-expanded', 'false');
        document.removeEventListener('keydown', onKeydown);
        this._panel = null;
        // After the popup has left the page, whatever it did with the focus.
        requestAnimationFrame(() => this.item.button.focus());
      });
      panel.focusFirst();
    } else {
      void showDialog({
        title: this.trans.__('Sign-in status'),
        body: panel,
        buttons: [Dialog.okButton({ label: this.trans.__('Close') })]
      }).then(() => {
        this._panel = null;
      });
    }
    void this.poller.refresh();
  }

  dispose(): void {
    clearInterval(this._ticker);
    document.removeEventListener('visibilitychange', this._onVisibility);
    window.removeEventListener('focus', this._onVisibility);
    document.removeEventListener('click', this._onClick, true);
    this._channel.dispose();
    this.poller.dispose();
  }

  private _newPanel(): SignInPanel {
    const panel = new SignInPanel(
      {
        signIn: provider => this.signIn(provider),
        signOut: provider => void this.signOut(provider),
        refresh: () => void this.poller.refresh()
      },
      this._settings.warningMinutes * 60,
      this.trans
    );
    panel.disposed.connect(() => {
      if (this._panel === panel) {
        this._panel = null;
      }
    });
    this._panel = panel;
    panel.render(this.poller.received, Date.now(), this._error);
    return panel;
  }

  private _update(): void {
    this._error = null;
    // Only Sign out depends on the status (enabled while signed in).
    if (this.signedIn !== this._wasSignedIn) {
      this._wasSignedIn = this.signedIn;
      this.app.commands.notifyCommandChanged(CommandIDs.signOut);
    }
    this._redraw(true);
  }

  private _redraw(full: boolean): void {
    const now = Date.now();
    const received = this.poller.received;
    // A token whose time ran out here has been renewed (or not) at the server: look,
    // once per token (a sign-in that cannot be renewed stays expired until it ends).
    if (received) {
      for (const [name, p] of providersOf(received.status)) {
        const left = secondsLeft(p.expires_in, received.receivedAt, now);
        const key = `${name}:${p.expires_at}`;
        if (
          p.logged_in &&
          left !== null &&
          left <= 0 &&
          !this._expiredAsked.has(key)
        ) {
          this._expiredAsked.add(key);
          void this.poller.refresh();
        }
      }
    }
    const warnSeconds = this._settings.warningMinutes * 60;
    this.item.render(received, now, warnSeconds);
    if (this._panel && (full || now - this._panelDrawn >= PANEL_REDRAW)) {
      this._panel.render(received, now, this._error);
      this._panelDrawn = now;
    }
    this._notify(received, now, warnSeconds);
  }

  private _notify(
    received: IReceived | null,
    now: number,
    warnSeconds: number
  ): void {
    if (received) {
      // A provider signed in again: its "signed out" notification is out of date.
      for (const [name, provider] of providersOf(received.status)) {
        const id = this._notifications.get(name);
        if (provider.logged_in && id) {
          Notification.dismiss(id);
          this._notifications.delete(name);
        }
      }
    }
    for (const notice of this._book.take(received, now, warnSeconds)) {
      const id = Notification.warning(notice.message, {
        autoClose: false,
        actions: [
          {
            label: this.trans.__('Sign in'),
            caption: this.trans.__('Open the provider to sign in again'),
            displayType: 'accent',
            callback: () => this.signIn(notice.provider)
          }
        ]
      });
      if (notice.kind === 'signed-out-by-provider') {
        // Dismissed once the provider is signed in again; "ends soon" stays until closed.
        this._notifications.set(notice.provider, id);
      }
    }
  }

  private _onVisibility = (): void => {
    this.poller.wake();
  };

  private _onClick = (event: MouseEvent): void => {
    const target = event.target as Element | null;
    if (target?.closest?.('.nevis-login button, .nevis-login a')) {
      this.poller.refreshSoon();
    }
  };

  private _baseUrl: string;
  private _channel: ChangeChannel;
  private _settings: ISettings = { ...DEFAULTS };
  private _popup: Popup | null = null;
  private _panel: SignInPanel | null = null;
  private _panelDrawn = 0;
  private _expiredAsked = new Set<string>();
  private _wasSignedIn = false;
  private _error: string | null = null;
  private _ticker: ReturnType<typeof setInterval>;
  private _book: NoticeBook;
  private _notifications = new Map<string, string>();
}

function readSettings(settings: ISettingRegistry.ISettings): ISettings {
  const composite = settings.composite as Partial<ISettings>;
  return {
    showStatusItem: composite.showStatusItem ?? DEFAULTS.showStatusItem,
    warningMinutes: composite.warningMinutes ?? DEFAULTS.warningMinutes,
    pollSeconds: composite.pollSeconds ?? DEFAULTS.pollSeconds
  };
}

/** The arguments of Sign in and Sign out, for the command's description. */
function providerArgs(trans: TranslationBundle): ReadonlyJSONObject {
  return {
    type: 'object',
    properties: {
      provider: {
        type: 'string',
        description: trans.__(
          'The provider, by its name in the configuration; without it, the first provider not signed in (Sign in) or every provider (Sign out).'
        )
      }
    }
  };
}

/** What the plugin was given: each may be missing (Notebook 7 has no status bar). */
export interface IActivateOptions {
  statusBar: IStatusBar | null;
  palette: ICommandPalette | null;
  settingRegistry: ISettingRegistry | null;
  translator: ITranslator | null;
}

/** Put the sign-in status into the page: item, commands, settings, polling. */
export function activateSignIn(
  app: JupyterFrontEnd,
  options: IActivateOptions
): void {
  const { statusBar, palette, settingRegistry, translator } = options;
  const trans = bundleOf(translator);
  const controller = new SignInController(app, statusBar, trans);
  const { commands } = app;
  commands.addCommand(CommandIDs.signIn, {
    label: trans.__('Sign in'),
    caption: trans.__(
      'Sign in at the identity provider, for notebooks to call APIs'
    ),
    describedBy: { args: providerArgs(trans) },
    execute: args => controller.signIn(args.provider as string | undefined)
  });
  commands.addCommand(CommandIDs.signOut, {
    label: trans.__('Sign out'),
    caption: trans.__('Sign out and revoke the tokens notebooks use'),
    describedBy: { args: providerArgs(trans) },
    isEnabled: () => controller.signedIn,
    execute: args => controller.signOut(args.provider as string | undefined)
  });
  commands.addCommand(CommandIDs.showStatus, {
    label: trans.__('Show sign-in status'),
    caption: trans.__('Who is signed in, until when, and for which APIs'),
    describedBy: { args: { type: 'object', properties: {} } },
    execute: () => controller.showDetails()
  });
  if (palette) {
    const category = trans.__('Sign-in');
    for (const command of Object.values(CommandIDs)) {
      palette.addItem({ command, category });
    }
  }

  if (statusBar) {
    statusBar.registerStatusItem('jupyter-nevis-auth:status', {
      item: controller.item,
      align: 'right',
      rank: 10,
      isActive: () => controller.settings.showStatusItem,
      activeStateChanged: controller.itemVisibility
    });
  } else {
    // Notebook 7 has no status bar: its top bar holds the item.
    controller.item.addClass('jp-NevisAuth-topItem');
    app.shell.add(controller.item, 'top', { rank: 990 });
  }

  if (settingRegistry) {
    settingRegistry
      .load(PLUGIN_ID)
      .then(settings => {
        controller.settings = readSettings(settings);
        settings.changed.connect(() => {
          controller.settings = readSettings(settings);
        });
      })
      .catch(reason => {
        console.warn('jupyter-nevis-auth: settings not loaded:', reason);
      })
      .finally(() => controller.poller.start());
  } else {
    controller.poller.start();
  }
}
