/**
 * Colour for the terminal, the way users switch it: on for a TTY (unless TERM=dumb), off when
 * NO_COLOR is set to anything but the empty string (no-color.org), and FORCE_COLOR (anything but
 * `0` or `false`) turns it on even into a pipe; FORCE_COLOR wins over NO_COLOR, as in Node.
 */
export type Style = 'green' | 'red' | 'yellow' | 'cyan' | 'blue' | 'magenta' | 'dim' | 'bold';

const SGR: Record<Style, [number, number]> = {
  green: [32, 39],
  red: [31, 39],
  yellow: [33, 39],
  cyan: [36, 39],
  blue: [34, 39],
  magenta: [35, 39],
  dim: [2, 22],
  bold: [1, 22],
};

export function colourEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.NODE_DISABLE_COLORS !== undefined && env.NODE_DISABLE_COLORS !== '') return false;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

export type Paint = (text: string, style: Style | undefined) => string;

export function painter(enabled: boolean): Paint {
  return (text, style) => {
    if (!enabled || !style || text === '') return text;
    const [on, off] = SGR[style];
    return `\x1b[${on}m${text}\x1b[${off}m`;
  };
}

/** The colour of a solve machine state (its top-level name), or of `queued`. */
export function stateStyle(state: string): Style | undefined {
  const top = state.split('.')[0];
  switch (top) {
    case 'success':
      return 'green';
    case 'failure':
      return 'red';
    case 'uploading':
      return 'cyan';
    case 'submissionPending':
    case 'jobRunning':
      return 'yellow';
    case 'fetchingResults':
      return 'magenta';
    case 'queued':
      return 'dim';
    default:
      return 'blue';
  }
}
