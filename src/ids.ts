/**
 * The names other parts of JupyterLab know the extension by: its plugin and its commands.
 */

/** The plugin's id, also its settings' name. */
export const PLUGIN_ID = 'jupyter-nevis-auth:plugin';

/** The commands, in the palette and the Help menu. */
export namespace CommandIDs {
  export const signIn = 'nevis-auth:sign-in';
  export const signOut = 'nevis-auth:sign-out';
  export const showStatus = 'nevis-auth:show-status';
}
