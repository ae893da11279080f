/**
 * jupyter-nevis-auth in JupyterLab and Notebook 7: the sign-in status item, its details,
 * commands, notifications and settings (controller.ts, loaded when the plugin activates).
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator } from '@jupyterlab/translation';

import { PLUGIN_ID } from './ids';

export { CommandIDs, PLUGIN_ID } from './ids';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Sign-in status and controls of jupyter-nevis-auth.',
  autoStart: true,
  optional: [IStatusBar, ICommandPalette, ISettingRegistry, ITranslator],
  activate: async (
    app: JupyterFrontEnd,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null
  ): Promise<void> => {
    const { activateSignIn } = await import('./controller');
    activateSignIn(app, { statusBar, palette, settingRegistry, translator });
  }
};

export default plugin;
