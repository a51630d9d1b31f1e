/**
 * Command-line flags, tokenised by Node's `util.parseArgs`: `--flag value`, `--flag=value`,
 * `--no-flag`, grouped short flags (`-qv`, `-j4`), `--` and positionals. It runs non-strict so
 * that a value flag always takes the next argument, even one that starts with a dash
 * (`--dec -05:23:28`; strict mode refuses it as ambiguous); its tokens are then checked here,
 * with messages that name the flag and what it takes.
 */
import { parseArgs as tokenize } from 'node:util';

/** Bad usage: a wrong flag, a missing argument. Exit code 2. */
export class UsageError extends Error {
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.name = 'UsageError';
    this.hint = hint;
  }
}

export interface FlagSpec {
  /** Long name, without the dashes. */
  name: string;
  /** `boolean` flags take no value (`--no-NAME` turns them off); `string` flags take one. */
  type: 'boolean' | 'string';
  /** May be given several times; the values are collected in order. */
  multiple?: boolean;
  /** A one-letter alias, e.g. `q` for `-q`. */
  short?: string;
}

export type FlagValue = string | boolean | string[];

export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, FlagValue>;
}

const TRUE = new Set(['true', 'yes', '1', 'on']);
const FALSE = new Set(['false', 'no', '0', 'off']);

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], command: string): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const positionals: string[] = [];
  const flags = new Map<string, FlagValue>();
  const hint = `Run \`astrometry-net ${command} --help\` for the flags it takes.`;
  const options = Object.fromEntries(specs.map((s) => [s.name, { type: s.type, ...(s.short ? { short: s.short } : {}) }]));
  const { tokens } = tokenize({ args: [...argv], options, strict: false, allowPositionals: true, allowNegative: true, tokens: true });

  const set = (spec: FlagSpec, value: string | boolean) => {
    if (spec.multiple) {
      const list = (flags.get(spec.name) as string[] | undefined) ?? [];
      list.push(String(value));
      flags.set(spec.name, list);
    } else {
      flags.set(spec.name, value);
    }
  };

  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals.push(token.value);
      continue;
    }
    if (token.kind === 'option-terminator') continue;
    // A negative number is an argument, not a flag.
    if (/^-\d/.test(token.rawName)) {
      positionals.push(argv[token.index] as string);
      continue;
    }
    const spec = byName.get(token.name);
    const shown = token.rawName.startsWith('--') ? token.rawName : `${token.rawName} (--${token.name})`;
    if (!spec && token.rawName.startsWith('--no-') && byName.get(token.name.slice(3))?.type === 'boolean' && token.value !== undefined) {
      throw new UsageError(`The flag ${token.rawName} takes no value (got "${token.value}").`, hint);
    }
    if (!spec) {
      const name = token.rawName.replace(/^--?/, '');
      throw new UsageError(`Unknown flag ${token.rawName} for \`${command}\`.`, (token.rawName.startsWith('--') ? suggest(name, specs) : undefined) ?? hint);
    }
    if (token.rawName.startsWith('--no-') && !specs.some((s) => s.name === token.rawName.slice(2))) {
      if (spec.type !== 'boolean') throw new UsageError(`Unknown flag ${token.rawName} for \`${command}\`.`, hint);
      if (token.value !== undefined) throw new UsageError(`The flag ${token.rawName} takes no value (got "${token.value}").`, hint);
      flags.set(spec.name, false);
      continue;
    }
    if (spec.type === 'boolean') {
      const inline = token.value;
      if (inline === undefined || TRUE.has(inline.toLowerCase())) set(spec, true);
      else if (FALSE.has(inline.toLowerCase())) set(spec, false);
      else throw new UsageError(`Invalid value for --${spec.name}: "${inline}". Allowed: yes or no (or leave the value out).`, hint);
      continue;
    }
    if (token.value === undefined) throw new UsageError(`The flag ${shown} needs a value.`, hint);
    set(spec, token.value);
  }
  return { positionals, flags };
}

function suggest(name: string, specs: readonly FlagSpec[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const s of specs) {
    const d = distance(name, s.name);
    if (d < bestDistance) {
      bestDistance = d;
      best = s.name;
    }
  }
  return best ? `Did you mean --${best}?` : undefined;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] as number;
}

/** Typed access to parsed flags. */
export class Flags {
  constructor(readonly parsed: ParsedArgs) {}

  has(name: string): boolean {
    return this.parsed.flags.has(name);
  }

  bool(name: string, fallback = false): boolean {
    const v = this.parsed.flags.get(name);
    return typeof v === 'boolean' ? v : fallback;
  }

  string(name: string): string | undefined {
    const v = this.parsed.flags.get(name);
    return typeof v === 'string' ? v : undefined;
  }

  list(name: string): string[] {
    const v = this.parsed.flags.get(name);
    return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
  }

  /** A positive integer flag, or `fallback`; a bad value is a usage error naming the flag. */
  positiveInt(name: string, fallback: number): number {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(n) || n < 1) {
      throw new UsageError(`Invalid value for --${name}: "${raw}". Allowed: a whole number of 1 or more.`);
    }
    return n;
  }

  /** A positive number flag (e.g. seconds). */
  positiveNumber(name: string): number | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n <= 0) {
      throw new UsageError(`Invalid value for --${name}: "${raw}". Allowed: a number greater than 0.`);
    }
    return n;
  }
}
