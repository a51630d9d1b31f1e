/**
 * The server's building blocks in isolation: Python-compatible JSON and conversions, the
 * streaming multipart parser, option handling, content sniffing, TAN conventions, and the
 * `serve` command line.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { floatRepr, pyBool, pyDatetimeStr, pyDumps, pyFloat, pyFloatOf, pyInt, pyLoads, pyStr, PyError, type PyDict } from '../src/python.js';
import { BadRequestError, BodyTooLargeError, parseMultipart } from '../src/multipart.js';
import { convertOptions, solverOptions } from '../src/parse-upload-options.js';
import { probeBuffer } from '../src/probe.js';
import { cdMatrix, orientationOf, parityOf, pixscaleArcsec, pixelToRaDec } from '../src/solvers/tan.js';
import { novaErrorMessage } from '../src/ingest.js';
import { isPrivateAddress } from '../src/url-fetch.js';
import { parseServeArgs, runServe, withSecretsFromEnvironment } from '../src/cli.js';
import { formatReal, readXyColumns, tableFile } from 'astrometry-net-client/fits';

describe('python json', () => {
  it('prints floats like Python repr', () => {
    const cases: [number, string][] = [
      [1, '1.0'],
      [-1, '-1.0'],
      [0.1, '0.1'],
      [1e16, '1e+16'],
      [1.5e-5, '1.5e-05'],
      [0.0001, '0.0001'],
      [123456789012345.6, '123456789012345.6'],
      [1e22, '1e+22'],
      [-0, '-0.0'],
      [2.5e-310, '2.5e-310'],
    ];
    for (const [x, s] of cases) expect(floatRepr(x), String(x)).toBe(s);
    expect(pyDumps([Number.NaN, Number.POSITIVE_INFINITY, pyFloat(2)])).toBe('[NaN, Infinity, 2.0]');
  });

  it('dumps with Python separators, ASCII escapes and insertion order', () => {
    expect(pyDumps({ b: 1, a: [true, null, 'é☃😀'], c: { d: 'x"\\\n' }, skip: undefined })).toBe(
      '{"b": 1, "a": [true, null, "\\u00e9\\u2603\\ud83d\\ude00"], "c": {"d": "x\\"\\\\\\n"}}',
    );
    expect(pyDumps({ empty: [], obj: {} })).toBe('{"empty": [], "obj": {}}');
  });

  it('loads ints as ints, floats as floats, NaN/Infinity, and keeps key order', () => {
    const v = pyLoads(' {"z": 1, "a": 1.0, "n": NaN, "i": -Infinity, "z": 2} ') as PyDict;
    expect([...v.keys()]).toEqual(['z', 'a', 'n', 'i']);
    expect(v.get('z')).toBe(2n);
    expect(v.get('a')).toBe(1);
    expect(Number.isNaN(v.get('n'))).toBe(true);
    for (const bad of ['', '{', '[1,]', '{"a" 1}', '"\u0001"', '01', '1 2', "{'a': 1}"]) expect(() => pyLoads(bad), bad).toThrow(PyError);
  });

  it('converts with str/int/float/bool semantics', () => {
    expect(pyStr(pyLoads('1.0'))).toBe('1.0');
    expect(pyStr(pyLoads('[1, "a", null, true]'))).toBe("[1, 'a', None, True]");
    expect(pyStr(pyLoads('{"k": "it\'s"}'))).toBe('{\'k\': "it\'s"}');
    expect(pyInt(pyLoads('2.9'))).toBe(2n);
    expect(pyInt(' 42 ')).toBe(42n);
    expect(pyInt(true)).toBe(1n);
    expect(() => pyInt('2.5')).toThrow(PyError);
    expect(() => pyInt(null)).toThrow(PyError);
    expect(pyFloatOf(' 1_0.5 ')).toBe(10.5);
    expect(pyFloatOf('-inf')).toBe(Number.NEGATIVE_INFINITY);
    expect(() => pyFloatOf('abc')).toThrow(PyError);
    expect(() => pyFloatOf([])).toThrow(PyError);
    expect(pyBool('false')).toBe(true);
    expect(pyBool(0n)).toBe(false);
    expect(pyBool([])).toBe(false);
  });

  it('formats datetimes like str(datetime)', () => {
    expect(pyDatetimeStr(null)).toBe('None');
    expect(pyDatetimeStr(Date.UTC(2023, 7, 16, 6, 26, 46) * 1000 + 267010)).toBe('2023-08-16 06:26:46.267010');
    expect(pyDatetimeStr(Date.UTC(2023, 7, 16, 6, 26, 46) * 1000)).toBe('2023-08-16 06:26:46');
  });
});

describe('multipart parser', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mp-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const body = (parts: string[], boundary = 'BOUND') =>
    Buffer.from(`preamble\r\n${parts.map((p) => `--${boundary}\r\n${p}\r\n`).join('')}--${boundary}--\r\nepilogue`, 'latin1');

  async function* chunks(buf: Buffer, size: number) {
    for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
  }

  it('parses fields and streams the file whatever the chunking', async () => {
    const fileData = 'line1\r\n--BOUN not a boundary\r\n\r\nend';
    const buf = body([
      'Content-Disposition: form-data; name="request-json"\r\n\r\n{"a": 1}',
      `Content-Disposition: form-data; name="file"; filename="C:\\\\dir\\\\m31.fits"\r\nContent-Type: application/octet-stream\r\n\r\n${fileData}`,
      'Content-Disposition: form-data; name="request-json"\r\n\r\n{"a": 2}',
    ]);
    for (const size of [1, 3, 7, 64, 100000]) {
      const form = await parseMultipart(chunks(buf, size), 'BOUND', { maxBodyBytes: 1e6, maxFieldBytes: 1e6, tmpDir: dir });
      expect(form.fields.get('request-json')).toEqual(['{"a": 1}', '{"a": 2}']);
      expect(form.file?.filename).toBe('m31.fits');
      expect(await readFile(form.file?.path ?? '', 'latin1')).toBe(fileData);
      expect(form.file?.size).toBe(fileData.length);
      await rm(form.file?.path ?? '');
    }
  });

  it('treats parts with filename as files, skips empty filenames and other file fields', async () => {
    const buf = body([
      'Content-Disposition: form-data; name="request-json"; filename="x.json"\r\n\r\n{}',
      'Content-Disposition: form-data; name="file"; filename=""\r\n\r\nabc',
      'Content-Disposition: form-data; name="other"; filename="o.bin"\r\n\r\nabc',
    ]);
    const form = await parseMultipart(chunks(buf, 5), 'BOUND', { maxBodyBytes: 1e6, maxFieldBytes: 1e6, tmpDir: dir });
    expect(form.fields.size).toBe(0);
    expect(form.file).toBeUndefined();
    expect(await readdir(dir)).toEqual([]);
  });

  it('enforces the body and field limits and rejects truncated bodies, leaving no temp files', async () => {
    const big = body([`Content-Disposition: form-data; name="file"; filename="a"\r\n\r\n${'x'.repeat(5000)}`]);
    await expect(parseMultipart(chunks(big, 100), 'BOUND', { maxBodyBytes: 1000, maxFieldBytes: 1e6, tmpDir: dir })).rejects.toBeInstanceOf(BodyTooLargeError);
    const fields = body([`Content-Disposition: form-data; name="f"\r\n\r\n${'x'.repeat(5000)}`]);
    await expect(parseMultipart(chunks(fields, 100), 'BOUND', { maxBodyBytes: 1e6, maxFieldBytes: 1000, tmpDir: dir })).rejects.toBeInstanceOf(BadRequestError);
    const truncated = big.subarray(0, 300);
    await expect(parseMultipart(chunks(truncated, 100), 'BOUND', { maxBodyBytes: 1e6, maxFieldBytes: 1e6, tmpDir: dir })).rejects.toBeInstanceOf(BadRequestError);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('upload options', () => {
  const conv = (json: string) => convertOptions(pyLoads(json) as PyDict);

  it('converts recognised keys as Python does and ignores the rest', () => {
    expect(conv('{"scale_units": 5, "scale_lower": "0.5", "downsample_factor": 2.9, "use_sextractor": "false", "crpix_center": 0, "typo": 1}')).toEqual({
      scale_units: '5',
      scale_lower: 0.5,
      downsample_factor: 2,
      use_sextractor: true,
      crpix_center: false,
    });
    expect(() => conv('{"center_ra": "abc"}')).toThrow(PyError);
    expect(() => conv('{"tweak_order": 3000000000}')).toThrow(PyError);
  });

  it('hands the solver model defaults minus falsy values, keeping parity/tweak_order 0', () => {
    expect(solverOptions(conv('{"center_ra": 0, "center_dec": 10.5, "parity": 0, "tweak_order": 0, "scale_lower": 0}'))).toEqual({
      scale_units: 'degwidth',
      scale_type: 'ul',
      scale_upper: 180,
      downsample_factor: 2,
      tweak_order: 0,
      parity: 0,
      center_dec: 10.5,
    });
  });
});

describe('content sniffing', () => {
  it('recognises images by magic bytes, with their sizes', () => {
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0, 0xff, 0xc0, 0, 17, 8, 0, 30, 0, 40, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(probeBuffer(jpeg)).toEqual({ kind: 'image', format: 'jpeg', width: 40, height: 30 });
    const gif = Buffer.from('GIF89a\x20\x00\x10\x00\x00\x00\x00', 'latin1');
    expect(probeBuffer(gif)).toEqual({ kind: 'image', format: 'gif', width: 32, height: 16 });
    expect(probeBuffer(Buffer.from('P5\n# c\n12 7\n255\n' + 'x'.repeat(84), 'latin1'))).toMatchObject({ format: 'pnm', width: 12, height: 7 });
  });

  it('recognises source lists (text and FITS tables) and sizes them by ceil(max)', () => {
    expect(probeBuffer(Buffer.from('# x y\n1.5 2\n10.2 3.3\n'))).toMatchObject({ kind: 'xylist', source: 'text', width: 11, height: 4 });
    const table = tableFile([
      { name: 'X', type: 'E', values: [5, 7.5] },
      { name: 'Y', type: 'D', values: [1, 20.1] },
    ]);
    expect(probeBuffer(Buffer.from(table))).toMatchObject({ kind: 'xylist', source: 'fits', width: 8, height: 21 });
    expect(readXyColumns(table)).toEqual({ x: [5, 7.5], y: [1, 20.1] });
  });

  it('rejects anything else as nova does', () => {
    expect(probeBuffer(Buffer.from('hello world\n'))).toEqual({ kind: 'unsupported', error: "Exception: This file's type is not supported." });
    expect(probeBuffer(Buffer.from('0 5\n-1 2\n'))).toMatchObject({ error: 'RuntimeError: Source list must contain POSITIVE x,y coordinates' });
  });

  it('keeps error messages to 255 characters with a leading "..."', () => {
    const m = novaErrorMessage(1001, 'Exception: ' + 'x'.repeat(400));
    expect(m.length).toBe(255);
    expect(m.startsWith('...')).toBe(true);
    expect(novaErrorMessage(1, 'E: short').endsWith('\nE: short\n')).toBe(true);
  });
});

describe('TAN conventions', () => {
  it('builds CD matrices whose orientation, parity and scale read back', () => {
    for (const parity of [1, -1] as const) {
      for (const o of [-170, -45, 0, 30, 179]) {
        const [cd11, cd12, cd21, cd22] = cdMatrix(1 / 3600, o, parity);
        const w = { cd11, cd12, cd21, cd22 };
        expect(orientationOf(w)).toBeCloseTo(o, 9);
        expect(parityOf(w)).toBe(parity);
        expect(pixscaleArcsec(w)).toBeCloseTo(1, 9);
      }
    }
    const wcs = { crval1: 10, crval2: 20, crpix1: 50, crpix2: 50, cd11: -1e-3, cd12: 0, cd21: 0, cd22: 1e-3, imagew: 100, imageh: 100 };
    expect(pixelToRaDec(wcs, 50, 50)).toEqual({ ra: 10, dec: 20 });
    expect(pixelToRaDec(wcs, 50, 60).dec).toBeCloseTo(20.01, 6);
    expect(formatReal(1e-7)).toBe('1.0E-7');
    expect(formatReal(12)).toBe('12.0');
  });
});

describe('serve command line', () => {
  it('takes the multi-node and safety flags', () => {
    expect(parseServeArgs(['--database', 'postgres://u:p@db/astro', '--lease-seconds=5', '--allow-private-urls'])).toEqual({
      database: 'postgres://u:p@db/astro',
      leaseMs: 5000,
      allowPrivateUrls: true,
      secretsOnCommandLine: ['--database'],
    });
    expect(() => parseServeArgs(["--database", "mysql://u:secret@x"])).toThrow(/--database: invalid value "\(not shown\)"; allowed: a PostgreSQL URL/);
    expect(() => parseServeArgs(["--database", "mysql://u:secret@x"])).not.toThrow(/secret/);
    expect(() => parseServeArgs(['--allow-private-urls=yes'])).toThrow(/takes no value/);
  });

  it('--help describes every flag with its default, and where state lives without --data-dir', async () => {
    let out = '';
    expect(await runServe(['--help'], { stdout: (t) => (out += t), stderr: () => undefined })).toBe(0);
    for (const flag of ['--host', '--port', '--api-keys-file', '--api-key', '--solver', '--data-dir', '--database', '--max-upload-mb', '--concurrency', '--cors-origin', '--allow-private-urls', '--lease-seconds', '--long-poll-max', '--index-dir', '--no-system-indexes', '--list-indexes']) {
      const line = out.split('\n').findIndex((l) => l.trimStart().startsWith(flag));
      expect(line, flag).toBeGreaterThan(0);
      // The description (which may wrap) says what happens when the flag is not given.
      const text = out.split('\n').slice(line, line + 3).join(' ');
      expect(text, flag).toMatch(/\(default/);
    }
    expect(out).toMatch(/temporary folder that is deleted on exit/);
    expect(out).toMatch(/--concurrency[^]*the number of cores/);
  });

  it('takes the index and long-poll flags beside the multi-node ones', () => {
    expect(
      parseServeArgs(['--database=postgres://u:p@db/a', '--index-dir', '/i1', '--index-dir=/i2', '--no-system-indexes', '--long-poll-max', '0', '--list-indexes']),
    ).toEqual({ database: 'postgres://u:p@db/a', indexDirs: ['/i1', '/i2'], systemIndexes: false, longPollMaxSeconds: 0, listIndexes: true, secretsOnCommandLine: ['--database'] });
  });

  it('parses every flag', () => {
    expect(
      parseServeArgs(['--host', '0.0.0.0', '--port=0', '--api-key', 'k1', '--api-key=k2', '--solver', 'simulated', '--data-dir', '/d', '--max-upload-mb', '1.5', '--concurrency', '3', '--cors-origin', 'http://localhost:3000']),
    ).toEqual({
      host: '0.0.0.0',
      port: 0,
      apiKeys: ['k1', 'k2'],
      solver: 'simulated',
      dataDir: '/d',
      maxUploadBytes: 1572864,
      concurrency: 3,
      cors: { origins: ['http://localhost:3000'] },
      secretsOnCommandLine: ['--api-key'],
    });
  });

  it('reads keys from a file or ASTROMETRY_SERVE_API_KEYS and the database from ASTROMETRY_DATABASE_URL; secrets given as arguments still work, with a warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anc-keys-'));
    const file = join(dir, 'keys');
    writeFileSync(file, '# the observatory\nkeyone123456789a\n\n  keytwo123456789b  # the lab\n', { mode: 0o600 });
    const warnings: string[] = [];
    const warn = (line: string) => void warnings.push(line);
    const env: NodeJS.ProcessEnv = { ASTROMETRY_SERVE_API_KEYS: 'ignoredkey', ASTROMETRY_DATABASE_URL: 'postgres://u:secret@db/a', PATH: '/bin' };
    const fromFile = withSecretsFromEnvironment(parseServeArgs(['--api-keys-file', file]), env, warn);
    // Read once, then gone from the environment the solver inherits.
    expect(env).toEqual({ PATH: '/bin' });
    expect(fromFile.apiKeys).toEqual(['keyone123456789a', 'keytwo123456789b']);
    expect(fromFile.database).toBe('postgres://u:secret@db/a');
    expect(warnings).toEqual([]);
    expect(withSecretsFromEnvironment({}, { ASTROMETRY_SERVE_API_KEYS: 'a1, b2 c3' }, warn).apiKeys).toEqual(['a1', 'b2', 'c3']);
    // Arguments win, and each kind of secret on the command line is warned about once.
    const args = withSecretsFromEnvironment(parseServeArgs(['--api-key', 'k1', '--api-key', 'k2', '--database', 'postgres://u:p@db/b']), { ASTROMETRY_DATABASE_URL: 'postgres://other/c' }, warn);
    expect(args).toMatchObject({ apiKeys: ['k1', 'k2'], database: 'postgres://u:p@db/b' });
    expect(warnings).toHaveLength(2);
    expect(warnings.join('\n')).toMatch(/--api-key .*ps shows it.*--api-keys-file/);
    expect(warnings.join('\n')).toMatch(/--database .*ps shows it.*ASTROMETRY_DATABASE_URL/);
    expect(warnings.join('\n')).not.toContain('k1');
    // A keys file others can read is used, with a warning; a missing or empty one is a usage error.
    chmodSync(file, 0o644);
    warnings.length = 0;
    withSecretsFromEnvironment(parseServeArgs(['--api-keys-file', file]), {}, warn);
    expect(warnings[0]).toMatch(/can be read by other users \(mode 644\); chmod 600/);
    expect(() => withSecretsFromEnvironment(parseServeArgs(['--api-keys-file', join(dir, 'none')]), {}, warn)).toThrow(/cannot read .*ENOENT/);
    writeFileSync(file, '# nothing\n');
    expect(() => withSecretsFromEnvironment(parseServeArgs(['--api-keys-file', file]), {}, warn)).toThrow(/holds no key/);
    expect(() => withSecretsFromEnvironment({}, { ASTROMETRY_DATABASE_URL: 'mysql://x' }, warn)).toThrow(/ASTROMETRY_DATABASE_URL/);
  });

  it('names the flag, the value and what is allowed; exit code 2', async () => {
    for (const [argv, needles] of [
      [['--port', '70000'], ['--port', '70000', '0 to 65535']],
      [['--solver', 'magic'], ['--solver', 'magic', 'simulated, solve-field']],
      [['--concurrency', '0'], ['--concurrency', '"0"', '1 to 1024']],
      [['--max-upload-mb', 'lots'], ['--max-upload-mb', 'lots', 'positive']],
      [['--cors-origin', 'localhost'], ['--cors-origin', 'localhost', 'origin']],
      [['--bogus'], ['--bogus', '--port']],
      [['--port'], ['--port', 'missing']],
    ] as const) {
      let err = '';
      const code = await runServe([...argv], { stdout: () => undefined, stderr: (t) => (err += t) });
      expect(code, argv.join(' ')).toBe(2);
      for (const n of needles) expect(err, argv.join(' ')).toContain(n);
    }
  });

  it('prints exactly the API URL on stdout, a generated key on stderr, and stops cleanly', async () => {
    let out = '';
    let err = '';
    let stop: () => void = () => undefined;
    const stopped = new Promise<void>((r) => (stop = r));
    const done = runServe(['--port', '0', '--solver', 'simulated'], {
      stdout: (t) => (out += t),
      stderr: (t) => (err += t),
      untilStopped: () => stopped,
    });
    for (let i = 0; i < 200 && out === ''; i++) await new Promise((r) => setTimeout(r, 10));
    expect(out).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/\n$/);
    const key = /api key: ([a-z]{16})\n/.exec(err)?.[1];
    expect(key).toBeDefined();
    const res = await fetch(out.trim() + 'login', { method: 'POST', body: new URLSearchParams({ 'request-json': JSON.stringify({ apikey: key }) }) });
    const text = await res.text();
    expect(text).toMatch(/"status": "success"/);
    // Neither the key nor the session ever reaches the log.
    const session = (JSON.parse(text) as { session: string }).session;
    expect(err.split('\n').filter((l) => l.includes(key ?? '-'))).toEqual([`api key: ${key}`]);
    expect(err).not.toContain(session);
    stop();
    expect(await done).toBe(0);
  });

  it('stops on SIGTERM when no stop hook is given', async () => {
    let out = '';
    const done = runServe(['--port', '0', '--solver', 'simulated', '--api-key', 'k'], { stdout: (t) => (out += t), stderr: () => undefined });
    for (let i = 0; i < 200 && out === ''; i++) await new Promise((r) => setTimeout(r, 10));
    process.emit('SIGTERM');
    expect(await done).toBe(0);
  });
});

describe('url_upload guard', () => {
  it('refuses this machine, private and reserved networks, and IPv6 forms that wrap them; lets public addresses through', () => {
    const own = Object.values(networkInterfaces())
      .flatMap((list) => list ?? [])
      .map((a) => a.address);
    expect(own.length).toBeGreaterThan(0);
    for (const ip of [
      ...own,
      '127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '255.255.255.255',
      '192.0.2.10', '198.51.100.7', '203.0.113.9', '198.18.0.1', '198.19.255.255',
      '::1', '::', '::7f00:1', '::127.0.0.1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe',
      '64:ff9b::7f00:1', '64:ff9b::10.0.0.1', '64:ff9b:1::1', '2002:7f00:1::', '2002:c0a8:101::1',
      '2001:db8::1', '2001:2::1', '3fff::1', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'fec0::1', 'ff02::1', '100::1',
      'not an address',
    ]) {
      expect(isPrivateAddress(ip), ip).toBe(true);
    }
    for (const ip of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1']) {
      expect(isPrivateAddress(ip), ip).toBe(false);
    }
    // A public address that is this machine's own is refused too, in any notation of it.
    expect(isPrivateAddress('203.0.114.7', ['203.0.114.7'])).toBe(true);
    expect(isPrivateAddress('203.0.114.7', [])).toBe(false);
    expect(isPrivateAddress('::ffff:cb00:7207', ['203.0.114.7'])).toBe(true);
    expect(isPrivateAddress('2606:4700::0:1', ['2606:4700::1'])).toBe(true);
  });
});
