/**
 * A small, strict argument parser: `--flag value`, `--flag=value`, `--no-flag`, and
 * positionals. A flag that takes a value always takes the next argument, so `--dec -05:23:28`
 * works (Node's util.parseArgs refuses values that start with a dash).
 */

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
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short as string, s]));
  const positionals: string[] = [];
  const flags = new Map<string, FlagValue>();
  const hint = `Run \`astrometry-net ${command} --help\` for the flags it takes.`;

  const set = (spec: FlagSpec, value: string | boolean) => {
    if (spec.multiple) {
      const list = (flags.get(spec.name) as string[] | undefined) ?? [];
      list.push(String(value));
      flags.set(spec.name, list);
    } else {
      flags.set(spec.name, value);
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
      let spec = byName.get(name);
      if (!spec && name.startsWith('no-')) {
        const positive = byName.get(name.slice(3));
        if (positive?.type === 'boolean') {
          if (inline !== undefined) throw new UsageError(`The flag --${name} takes no value (got "${inline}").`, hint);
          flags.set(positive.name, false);
          continue;
        }
      }
      if (!spec) throw new UsageError(`Unknown flag --${name} for \`${command}\`.`, suggest(name, specs) ?? hint);
      if (spec.type === 'boolean') {
        if (inline === undefined) set(spec, true);
        else if (TRUE.has(inline.toLowerCase())) set(spec, true);
        else if (FALSE.has(inline.toLowerCase())) set(spec, false);
        else throw new UsageError(`Invalid value for --${name}: "${inline}". Allowed: yes or no (or leave the value out).`, hint);
        continue;
      }
      let value = inline;
      if (value === undefined) {
        if (i + 1 >= argv.length) throw new UsageError(`The flag --${name} needs a value.`, hint);
        value = argv[++i] as string;
      }
      set(spec, value);
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) {
      const letters = arg.slice(1);
      for (let j = 0; j < letters.length; j++) {
        const spec = byShort.get(letters[j] as string);
        if (!spec) throw new UsageError(`Unknown flag -${letters[j]} for \`${command}\`.`, hint);
        if (spec.type === 'boolean') {
          set(spec, true);
        } else {
          const rest = letters.slice(j + 1);
          if (rest) set(spec, rest);
          else if (i + 1 < argv.length) set(spec, argv[++i] as string);
          else throw new UsageError(`The flag -${spec.short} (--${spec.name}) needs a value.`, hint);
          break;
        }
      }
      continue;
    }
    positionals.push(arg);
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
