/**
 * serve's own index folder: where `astrometry-net indexes install` puts files when given no
 * --dir, and what `serve` searches when given no --index-dir (besides the system's). Per user,
 * as XDG data: `$XDG_DATA_HOME/astrometry-net/indexes`, else `~/.local/share/astrometry-net/indexes`.
 */
import { homedir } from 'node:os';
import path from 'node:path';

export function defaultIndexDir(env: NodeJS.ProcessEnv = process.env): string {
  const dataHome = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(homedir(), '.local', 'share');
  return path.join(dataHome, 'astrometry-net', 'indexes');
}
