import {
  Gettext,
  ITranslator,
  TranslationBundle
} from '@jupyterlab/translation';

import schema from '../../schema/plugin.json';
import { bundleOf, DOMAIN } from '../i18n';
import { SignInItem } from '../item';
import { NoticeBook } from '../notices';
import { SignInPanel } from '../panel';
import { formatLeft } from '../status';
import { NOW, revoked, signedIn } from './fixtures';

/** German for a few of the interface's strings, as a language pack would carry them. */
const GERMAN: Record<string, string | [string, string]> = {
  'Signed in as %1': 'Angemeldet als %1',
  'Access token: %1 left, renewed automatically.':
    'Zugriffstoken: noch %1, wird automatisch erneuert.',
  '%1 min': '%1 Min.',
  'Sign out': 'Abmelden',
  Refresh: 'Aktualisieren',
  'Signed in': 'Angemeldet',
  '%1 · %2': '%1 · %2',
  '%1: %2. Show sign-in status.': '%1: %2. Anmeldestatus anzeigen.',
  'Signed out by the provider; sign in again.':
    'Vom Anbieter abgemeldet; bitte erneut anmelden.',
  'Sign-in expires in %1 minute; it cannot be renewed, sign in again to keep working.':
    [
      'Die Anmeldung läuft in %1 Minute ab.',
      'Die Anmeldung läuft in %1 Minuten ab.'
    ]
};

/** A translator whose bundle for this extension's domain speaks GERMAN. */
function german(): { translator: ITranslator; domains: string[] } {
  const domains: string[] = [];
  const bundle: Partial<TranslationBundle> = {
    __: (msgid: string, ...args: unknown[]) =>
      Gettext.strfmt((GERMAN[msgid] as string) ?? msgid, ...args),
    _n: (msgid: string, plural: string, n: number, ...args: unknown[]) => {
      const forms = GERMAN[msgid] as [string, string] | undefined;
      const text = forms ? forms[n === 1 ? 0 : 1] : n === 1 ? msgid : plural;
      return Gettext.strfmt(text, n, ...args);
    }
  };
  const translator = {
    languageCode: 'de-DE',
    load: (domain: string) => {
      domains.push(domain);
      return bundle as TranslationBundle;
    }
  } as ITranslator;
  return { translator, domains };
}

describe('translation', () => {
  it('loads the domain of the settings schema, which the server translates by', () => {
    const { translator, domains } = german();
    bundleOf(translator);
    expect(domains).toEqual([DOMAIN]);
    expect(schema['jupyter.lab.internationalization'].domain).toBe(DOMAIN);
  });

  it('shows the item and the details in the language of the translator', () => {
    const trans = bundleOf(german().translator);
    const received = { status: signedIn(), receivedAt: NOW };
    const item = new SignInItem(() => undefined, trans);
    item.render(received, NOW, 300);
    expect(item.button.getAttribute('aria-label')).toBe(
      'Angemeldet: Alice Example · 57 Min.. Anmeldestatus anzeigen.'
    );
    const panel = new SignInPanel(
      { signIn: jest.fn(), signOut: jest.fn(), refresh: jest.fn() },
      300,
      trans
    );
    panel.render(received, NOW);
    const text = panel.node.textContent ?? '';
    expect(text).toContain('Angemeldet als Alice Example');
    expect(text).toContain(
      'Zugriffstoken: noch 57 Min., wird automatisch erneuert.'
    );
    const buttons = Array.from(panel.node.querySelectorAll('button')).map(
      b => b.textContent
    );
    expect(buttons).toEqual(['Abmelden', 'Aktualisieren']);
    expect(formatLeft(3420, trans)).toBe('57 Min.');
  });

  it('translates notifications, with the plural form the count asks for', () => {
    const trans = bundleOf(german().translator);
    const book = new NoticeBook(trans);
    const [signedOut] = book.take(
      { status: revoked, receivedAt: NOW },
      NOW,
      300
    );
    expect(signedOut.message).toBe(
      'Vom Anbieter abgemeldet; bitte erneut anmelden.'
    );
    const ending = {
      status: signedIn({ refresh_possible: false, expires_in: 90 }),
      receivedAt: NOW
    };
    expect(new NoticeBook(trans).take(ending, NOW, 300)[0].message).toBe(
      'Die Anmeldung läuft in 2 Minuten ab.'
    );
    expect(
      new NoticeBook(trans).take(ending, NOW + 30_000, 300)[0].message
    ).toBe('Die Anmeldung läuft in 1 Minute ab.');
  });
});
