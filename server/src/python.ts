/**
 * Just enough Python semantics to answer byte-for-byte like nova (a Django app).
 *
 * nova parses `request-json` with simplejson and then runs bare `str()`, `int()`, `float()`
 * and `bool()` over the values (docs/nova-protocol.md#upload-options). The JSON module of JavaScript loses the
 * int/float distinction and rejects `NaN`, so we parse into our own value model: Python ints
 * become `bigint`, floats `number`, objects an insertion-ordered `Map`.
 */

export type PyValue = null | boolean | bigint | number | string | PyValue[] | PyDict;
export type PyDict = Map<string, PyValue>;

/** Raised where Python would raise (ValueError/TypeError...): nova turns these into HTML 500s. */
export class PyError extends Error {
  constructor(
    readonly pyType: string,
    message: string,
  ) {
    super(`${pyType}: ${message}`);
    this.name = 'PyError';
  }
}

export function isDict(v: PyValue): v is PyDict {
  return v instanceof Map;
}

// ---------------------------------------------------------------------------------------------
// json.loads

/** `json.loads` / `simplejson.loads`: throws PyError('JSONDecodeError') on anything invalid. */
export function pyLoads(text: string): PyValue {
  const p = new JsonParser(text);
  p.ws();
  const v = p.value(0);
  p.ws();
  if (p.i !== text.length) p.fail('Extra data');
  return v;
}

const MAX_DEPTH = 500;

class JsonParser {
  i = 0;
  constructor(readonly s: string) {}

  fail(what: string): never {
    throw new PyError('JSONDecodeError', `${what}: char ${this.i}`);
  }

  ws(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.i++;
      else break;
    }
  }

  value(depth: number): PyValue {
    if (depth > MAX_DEPTH) this.fail('Too deeply nested');
    const s = this.s;
    const c = s[this.i];
    switch (c) {
      case '{':
        return this.object(depth);
      case '[':
        return this.array(depth);
      case '"':
        return this.string();
      case 'n':
        return this.literal('null', null);
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'N':
        return this.literal('NaN', Number.NaN);
      case 'I':
        return this.literal('Infinity', Number.POSITIVE_INFINITY);
      default:
        if (c === '-' && s.startsWith('-Infinity', this.i)) {
          this.i += 9;
          return Number.NEGATIVE_INFINITY;
        }
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
        return this.fail('Expecting value');
    }
  }

  literal<T extends PyValue>(word: string, v: T): T {
    if (!this.s.startsWith(word, this.i)) this.fail('Expecting value');
    this.i += word.length;
    return v;
  }

  number(): bigint | number {
    const m = /^-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/.exec(this.s.slice(this.i, this.i + 400));
    if (!m) return this.fail('Expecting value');
    this.i += m[0].length;
    if (m[1] === undefined && m[2] === undefined) return BigInt(m[0]);
    return Number(m[0]);
  }

  string(): string {
    const s = this.s;
    this.i++; // opening quote
    let out = '';
    let start = this.i;
    for (;;) {
      if (this.i >= s.length) this.fail('Unterminated string starting at');
      const c = s.charCodeAt(this.i);
      if (c === 0x22) {
        out += s.slice(start, this.i);
        this.i++;
        return out;
      }
      if (c < 0x20) this.fail('Invalid control character at');
      if (c === 0x5c) {
        out += s.slice(start, this.i);
        const e = s[this.i + 1];
        this.i += 2;
        switch (e) {
          case '"':
            out += '"';
            break;
          case '\\':
            out += '\\';
            break;
          case '/':
            out += '/';
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case 'n':
            out += '\n';
            break;
          case 'r':
            out += '\r';
            break;
          case 't':
            out += '\t';
            break;
          case 'u': {
            const hex = s.slice(this.i, this.i + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('Invalid \\uXXXX escape');
            out += String.fromCharCode(parseInt(hex, 16));
            this.i += 4;
            break;
          }
          default:
            this.fail('Invalid \\escape');
        }
        start = this.i;
        continue;
      }
      this.i++;
    }
  }

  array(depth: number): PyValue[] {
    this.i++;
    const out: PyValue[] = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === ']') {
        this.i++;
        return out;
      }
      this.fail("Expecting ',' delimiter");
    }
  }

  object(depth: number): PyDict {
    this.i++;
    const out: PyDict = new Map();
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('Expecting property name enclosed in double quotes');
      const k = this.string();
      this.ws();
      if (this.s[this.i] !== ':') this.fail("Expecting ':' delimiter");
      this.i++;
      this.ws();
      // A repeated key keeps its first position and takes the last value, as a Python dict does.
      out.set(k, this.value(depth + 1));
      this.ws();
      const c = this.s[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === '}') {
        this.i++;
        return out;
      }
      this.fail("Expecting ',' delimiter");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// json.dumps

/** Marks a number that Python holds as a float, so `1` prints as `1.0` (e.g. calibration parity). */
export class PyFloat {
  constructor(readonly value: number) {}
}

export const pyFloat = (v: number): PyFloat => new PyFloat(v);

export type Dumpable =
  | null
  | boolean
  | number
  | bigint
  | string
  | PyFloat
  | readonly Dumpable[]
  | PyDict
  | { readonly [key: string]: Dumpable | undefined };

/**
 * `json.dumps(obj)` with default arguments: `", "` / `": "` separators, ASCII-only output,
 * keys in insertion order. Integral JS numbers print as ints; wrap floats in PyFloat.
 * Object properties whose value is `undefined` are skipped.
 */
export function pyDumps(v: Dumpable | PyValue): string {
  if (v === null) return 'null';
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isInteger(v) ? intOrFloat(v) : floatRepr(v, true);
  if (typeof v === 'string') return jsonString(v);
  if (v instanceof PyFloat) return floatRepr(v.value, true);
  if (Array.isArray(v)) return `[${v.map((x) => pyDumps(x as Dumpable)).join(', ')}]`;
  if (v instanceof Map) {
    const parts: string[] = [];
    for (const [k, x] of v) parts.push(`${jsonString(k)}: ${pyDumps(x)}`);
    return `{${parts.join(', ')}}`;
  }
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v as Record<string, Dumpable | undefined>)) {
    if (x === undefined) continue;
    parts.push(`${jsonString(k)}: ${pyDumps(x)}`);
  }
  return `{${parts.join(', ')}}`;
}

function intOrFloat(v: number): string {
  // Integral values beyond 2^53 cannot be ids; print them as Python would print the float.
  return Number.isSafeInteger(v) ? String(v) : floatRepr(v, true);
}

function jsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c < 0x20 || c > 0x7e) {
      // ensure_ascii: DEL (0x7f) passes through in Python, everything above is escaped.
      if (c === 0x7f) out += s[i];
      else out += '\\u' + c.toString(16).padStart(4, '0');
    } else out += s[i];
  }
  return out + '"';
}

/**
 * Python's `repr(float)`: shortest round-trip digits (as JavaScript), but fixed notation only
 * for decimal exponents -4..15, and `1e+16` / `1.5e-05` style otherwise.
 * `json` spells non-finite values NaN/Infinity; `str()` spells them nan/inf.
 */
export function floatRepr(x: number, forJson = false): string {
  if (Number.isNaN(x)) return forJson ? 'NaN' : 'nan';
  if (x === Number.POSITIVE_INFINITY) return forJson ? 'Infinity' : 'inf';
  if (x === Number.NEGATIVE_INFINITY) return forJson ? '-Infinity' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const m = /^(\d)(?:\.(\d+))?e([-+]\d+)$/.exec(Math.abs(x).toExponential());
  if (!m) return String(x);
  const digits = (m[1] ?? '') + (m[2] ?? '');
  const exp = Number(m[3]);
  if (exp >= -4 && exp < 16) {
    if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
    const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
    const frac = digits.slice(exp + 1) || '0';
    return `${sign}${intPart}.${frac}`;
  }
  const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const e = Math.abs(exp).toString().padStart(2, '0');
  return `${sign}${mant}e${exp < 0 ? '-' : '+'}${e}`;
}

// ---------------------------------------------------------------------------------------------
// str(), repr(), int(), float(), bool()

/** Python `str(v)` of a decoded JSON value. */
export function pyStr(v: PyValue): string {
  if (typeof v === 'string') return v;
  return pyRepr(v);
}

export function pyRepr(v: PyValue): string {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return floatRepr(v);
  if (typeof v === 'string') return strRepr(v);
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  const parts: string[] = [];
  for (const [k, x] of v) parts.push(`${strRepr(k)}: ${pyRepr(x)}`);
  return `{${parts.join(', ')}}`;
}

function strRepr(s: string): string {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = q;
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === q || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + q;
}

function typeName(v: PyValue): string {
  if (v === null) return 'NoneType';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'number') return 'float';
  if (typeof v === 'string') return 'str';
  if (Array.isArray(v)) return 'list';
  return 'dict';
}

/** Python `int(v)`. */
export function pyInt(v: PyValue): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (typeof v === 'number') {
    if (Number.isNaN(v)) throw new PyError('ValueError', 'cannot convert float NaN to integer');
    if (!Number.isFinite(v)) throw new PyError('OverflowError', 'cannot convert float infinity to integer');
    return BigInt(Math.trunc(v));
  }
  if (typeof v === 'string') {
    const t = v.trim();
    if (/^[-+]?[0-9]+(?:_[0-9]+)*$/.test(t)) return BigInt(t.replace(/_/g, ''));
    throw new PyError('ValueError', `invalid literal for int() with base 10: ${strRepr(v)}`);
  }
  throw new PyError(
    'TypeError',
    `int() argument must be a string, a bytes-like object or a real number, not '${typeName(v)}'`,
  );
}

/** Python `float(v)`. */
export function pyFloatOf(v: PyValue): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') {
    const t = v.trim();
    const digits = '[0-9]+(?:_[0-9]+)*';
    const re = new RegExp(`^[-+]?(?:(?:${digits})?\\.${digits}|${digits}\\.?)(?:[eE][-+]?${digits})?$`);
    if (re.test(t)) return Number(t.replace(/_/g, ''));
    const special = /^([-+]?)(nan|inf|infinity)$/i.exec(t);
    if (special) {
      if (special[2]?.toLowerCase() === 'nan') return Number.NaN;
      return special[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
    }
    throw new PyError('ValueError', `could not convert string to float: ${strRepr(v)}`);
  }
  throw new PyError('TypeError', `float() argument must be a string or a real number, not '${typeName(v)}'`);
}

/** Python truthiness: `bool("false")` is True, `bool(0)`, `bool("")`, `bool([])` are False. */
export function pyBool(v: PyValue): boolean {
  if (v === null || v === false) return false;
  if (v === true) return true;
  if (typeof v === 'bigint') return v !== 0n;
  if (typeof v === 'number') return v !== 0; // NaN is truthy in Python, and NaN !== 0
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  return v.size > 0;
}

/** Python `x in container` for a string needle, as `'session' in request.json` evaluates it. */
export function pyContains(container: PyValue, needle: string): boolean {
  if (isDict(container)) return container.has(needle);
  if (Array.isArray(container)) return container.some((x) => x === needle);
  if (typeof container === 'string') return container.includes(needle);
  throw new PyError('TypeError', `argument of type '${typeName(container)}' is not iterable`);
}

/** Python iteration over a value, as `[float(v) for v in json['x']]` does it. */
export function pyIter(v: PyValue): PyValue[] {
  if (Array.isArray(v)) return v;
  if (typeof v === 'string') return Array.from(v);
  if (isDict(v)) return Array.from(v.keys());
  throw new PyError('TypeError', `'${typeName(v)}' object is not iterable`);
}

/**
 * `str(datetime)` of a naive UTC datetime held as microseconds since the epoch:
 * `YYYY-MM-DD HH:MM:SS.ffffff`, without the fraction when it is zero. `null` gives `"None"`.
 */
export function pyDatetimeStr(micros: number | null): string {
  if (micros === null) return 'None';
  const ms = Math.floor(micros / 1000);
  const us = micros - ms * 1000;
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const base =
    `${p(d.getUTCFullYear(), 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
  const frac = d.getUTCMilliseconds() * 1000 + us;
  return frac === 0 ? base : `${base}.${p(frac, 6)}`;
}
