/**
 * The interface's words go through JupyterLab's translator: a language pack that carries
 * this domain shows them in the user's language, and English stays the default.
 */
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';

/** The gettext domain of the extension's strings: its Python package's name. */
export const DOMAIN = 'jupyter_nevis_auth';

/** The strings of this extension in the user's language (English without a translator). */
export function bundleOf(translator?: ITranslator | null): TranslationBundle {
  return (translator ?? nullTranslator).load(DOMAIN);
}
