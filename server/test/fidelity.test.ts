/**
 * Points where `serve` answered differently from the real nova app, each checked the way a nova
 * client sees it: the official client.py's multipart bytes, object names split on every `/`,
 * and annotations in nova's shape.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { annotationsFromPlotConstellations } from '../src/annotations.js';
import { startServer, type RunningServer, type SolverBackend } from '../src/index.js';
import { encodePng } from '../src/render.js';
import { parseObjectList } from '../src/solvers/solve-field/backend.js';

const KEY = 'fidelitykeyabcde';
const servers: RunningServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function start(solver: 'simulated' | SolverBackend = 'simulated'): Promise<RunningServer> {
  const s = await startServer({ port: 0, apiKeys: [KEY], solver, simulated: { ingestMs: 5, queueMs: 5, solveMs: 20 } });
  servers.push(s);
  return s;
}

async function login(s: RunningServer): Promise<string> {
  const body = new URLSearchParams({ 'request-json': JSON.stringify({ apikey: KEY }) });
  return ((await (await fetch(s.url + 'login', { method: 'POST', body })).json()) as { session: string }).session;
}

async function waitJob(s: RunningServer, subid: number): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const st = (await (await fetch(s.url + `submissions/${subid}`)).json()) as { jobs: (number | null)[]; job_calibrations: unknown[] };
    if (st.job_calibrations.length > 0) return st.jobs[0] as number;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`submission ${subid} did not solve`);
}

/**
 * What `net/client/client.py` sends for `--upload PATH`: Python's email generator with the
 * top-level headers left out, part headers ended by CRLF, but boundary lines and the JSON part
 * ended by a bare LF, `Content-disposition` in lower case, a MIME-Version per part, and the
 * boundary quoted in the Content-Type header.
 */
function clientPyUpload(json: string, path: string, bytes: Buffer): { body: Buffer; contentType: string } {
  const boundary = '===============6912539216049410351==';
  const body = Buffer.concat([
    Buffer.from(
      `--${boundary}\n` +
        'Content-Type: text/plain\r\n' +
        'MIME-Version: 1.0\r\n' +
        'Content-disposition: form-data; name="request-json"\r\n' +
        '\r\n' +
        `${json}\n` +
        `--${boundary}\n` +
        'Content-Type: application/octet-stream\r\n' +
        'MIME-Version: 1.0\r\n' +
        `Content-disposition: form-data; name="file"; filename="${path}"\r\n` +
        '\r\n',
    ),
    bytes,
    Buffer.from(`\n--${boundary}--\n`),
  ]);
  return { body, contentType: `multipart/form-data; boundary="${boundary}"` };
}

describe('the official client.py', () => {
  it('uploads with its bare-LF multipart framing; the file arrives byte for byte', async () => {
    const s = await start();
    const session = await login(s);
    const w = 40;
    const data = new Uint8Array(w * w).map((_, i) => (i * 13) & 0xff);
    // A PNG that ends in CR LF would be cut by a parser that takes one CR too many.
    const bytes = Buffer.concat([Buffer.from(encodePng({ width: w, height: w, channels: 1, data })), Buffer.from('\r\n')]);
    const json = JSON.stringify({ publicly_visible: 'y', allow_modifications: 'd', session, allow_commercial_use: 'd' }).replace(/,/g, ', ').replace(/:/g, ': ');
    const { body, contentType } = clientPyUpload(json, '/home/me/images/m42 field.png', bytes);
    const res = await fetch(s.url + 'upload', { method: 'POST', body: new Uint8Array(body), headers: { 'Content-Type': contentType } });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { status: string; subid: number; hash: string };
    expect(answer.status).toBe('success');
    expect(answer.hash).toBe(createHash('sha1').update(bytes).digest('hex'));
    const job = await waitJob(s, answer.subid);
    const info = (await (await fetch(s.url + `jobs/${job}/info`)).json()) as { original_filename: string; status: string };
    expect(info).toMatchObject({ original_filename: 'm42 field.png', status: 'success' });
  });

  it('still gets nova\'s answers to a client.py body without a session ("no session") and a CRLF-framed one', async () => {
    const s = await start();
    const bytes = Buffer.from('not an image');
    const { body, contentType } = clientPyUpload('{"session": "nope"}', 'x.fits', bytes);
    const res = await fetch(s.url + 'upload', { method: 'POST', body: new Uint8Array(body), headers: { 'Content-Type': contentType } });
    expect(await res.text()).toBe('{"status": "error", "errormessage": "no session with key \\"nope\\""}');
    const crlf = Buffer.from(body.toString('latin1').replace(/([^\r])\n/g, '$1\r\n'), 'latin1');
    const res2 = await fetch(s.url + 'upload', { method: 'POST', body: new Uint8Array(crlf), headers: { 'Content-Type': contentType } });
    expect(await res2.text()).toBe('{"status": "error", "errormessage": "no session with key \\"nope\\""}');
  });
});

describe('object names', () => {
  it('are split on every "/", as nova splits them, in info, tags, machine_tags and objects_in_field', async () => {
    const listing = 'Part of the constellation Ursa Major (UMa)\nThe star Megrez / Kaffa (δ UMa / 69 UMa)\nNGC 3556 / M 108\n';
    const names = parseObjectList(listing);
    expect(names).toEqual(['Part of the constellation Ursa Major (UMa)', 'The star Megrez', 'Kaffa (δ UMa', '69 UMa)', 'NGC 3556', 'M 108']);
    // Through the API, with a backend that reports exactly those names.
    const backend: SolverBackend = {
      name: 'fixed',
      solve: async (req) => {
        const annotations = join(req.jobDir, 'annotations.json');
        // Magnitudes as the catalogue gives them (Phecda 2.44 is brighter than Megrez 3.31); 69 UMa has none.
        const magnitudes = new Map([['δ UMa / 69 UMa', 3.31], ['Phecda', 2.44]]);
        await writeFile(annotations, JSON.stringify(annotationsFromPlotConstellations(PLOT_CONSTELLATIONS_J, magnitudes)));
        return {
          status: 'success',
          calibration: { ra: 165, dec: 56, radius: 1, pixscale: 10, orientation: 0, parity: 1 },
          files: { annotations },
          tags: names,
          machineTags: names,
          objectsInField: names,
        };
      },
    };
    const s = await start(backend);
    const session = await login(s);
    const form = new FormData();
    form.set('request-json', JSON.stringify({ session }));
    form.set('file', new Blob([encodePng({ width: 8, height: 8, channels: 1, data: new Uint8Array(64) }) as Uint8Array<ArrayBuffer>]), 'uma.png');
    const { subid } = (await (await fetch(s.url + 'upload', { method: 'POST', body: form })).json()) as { subid: number };
    const job = await waitJob(s, subid);
    const get = async (p: string) => (await fetch(s.url + `jobs/${job}/${p}`)).json();
    expect(await get('objects_in_field')).toEqual({ objects_in_field: names });
    expect(await get('tags')).toEqual({ tags: names });
    expect(await get('machine_tags')).toEqual({ tags: names });
    expect(((await get('info')) as { objects_in_field: string[] }).objects_in_field).toEqual(names);
    expect(await (await fetch(s.url + 'jobs_by_tag?query=69 UMa)&exact=1')).json()).toEqual({ job_ids: [job] });

    // Annotations in nova's shape and order: points (bright stars) first, then circles.
    const anns = (await get('annotations')) as { annotations: { type: string; names: string[]; radius: number }[] };
    expect(anns.annotations.map((a) => [a.type, a.names[0], a.radius > 0])).toEqual([
      ['bright', 'Megrez', false],
      ['bright', 'Phecda', false],
      ['bright', '69 UMa', false],
      ['ngc', 'NGC 3556', true],
      ['ic', 'IC 2574', true],
    ]);
    // vmag after radius, where the catalogue gives one; nbright=N the N brightest, brightest first.
    const all = await (await fetch(s.url + `jobs/${job}/annotations`)).text();
    expect(all).toContain('{"type": "bright", "names": ["Megrez", "\\u03b4 UMa / 69 UMa"], "pixelx": 120.5, "pixely": 88.25, "radius": 0.0, "vmag": 3.31}');
    expect(all).toContain('{"type": "bright", "names": ["69 UMa"], "pixelx": 50.0, "pixely": 60.0, "radius": 0.0}');
    const raw = await (await fetch(s.url + `jobs/${job}/annotations?nbright=1`)).text();
    expect(raw).toMatch(/^\{"annotations": \[\{"type": "bright", "names": \["Phecda", "\\u03b3 UMa \/ 64 UMa"\], "pixelx": 300\.1, "pixely": 20\.0, "radius": 0\.0, "vmag": 2\.44\}, \{"type": "ngc"/);
    const two = ((await (await fetch(s.url + `jobs/${job}/annotations?nbright=2`)).json()) as { annotations: { names: string[] }[] }).annotations;
    expect(two.map((a) => a.names[0])).toEqual(['Phecda', 'Megrez', 'NGC 3556', 'IC 2574']);
  });
});

describe('the job log', () => {
  it("shows paths under the data directory relative to it, never the server's absolute paths", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'nova-joblog-'));
    const backend: SolverBackend = {
      name: 'logging',
      solve: async (req) => {
        // What solve-field writes: its input and temp files by absolute path.
        const joblog = join(req.jobDir, 'job.log');
        await writeFile(joblog, `Reading input file 1 of 1: "${req.inputPath}"...\nRead file ${join(req.jobDir, 'tmp', 'tmp.ppm.x')}: 8 x 8 pixels\nindex /usr/share/astrometry/index-4107.fits\n`);
        return { status: 'failure', files: { joblog }, tags: [], machineTags: [], objectsInField: [] };
      },
    };
    const s = await startServer({ port: 0, apiKeys: [KEY], solver: backend, dataDir });
    servers.push(s);
    const session = await login(s);
    const form = new FormData();
    form.set('request-json', JSON.stringify({ session }));
    form.set('file', new Blob([encodePng({ width: 8, height: 8, channels: 1, data: new Uint8Array(64) }) as Uint8Array<ArrayBuffer>]), 'x.png');
    const { subid } = (await (await fetch(s.url + 'upload', { method: 'POST', body: form })).json()) as { subid: number };
    let job: number | null = null;
    for (let i = 0; i < 200 && job === null; i++) {
      const st = (await (await fetch(s.url + `submissions/${subid}`)).json()) as { jobs: (number | null)[] };
      if (typeof st.jobs[0] === 'number' && (await (await fetch(s.url + `jobs/${st.jobs[0]}`)).json() as { status: string }).status === 'failure') job = st.jobs[0];
      else await new Promise((r) => setTimeout(r, 25));
    }
    const log = await (await fetch(s.origin + `/joblog/${job}`)).text();
    expect(log).toMatch(/^Reading input file 1 of 1: "images\/\d+\/file"\.\.\.\nRead file jobs\/\d+\/tmp\/tmp\.ppm\.x: 8 x 8 pixels\n/);
    expect(log).not.toContain(dataDir);
    // Other absolute paths (the index files here) keep only their file name.
    expect(log).toContain('\nindex index-4107.fits\n');
    expect(log).not.toContain('/usr/share');
    await rm(dataDir, { recursive: true, force: true });
  });
});

/** `plot-constellations -w wcs.fits -B -N -J -L` as Debian's 0.93 prints it (on stderr). */
const PLOT_CONSTELLATIONS_J = `{ 
  "status": "solved",
  "git-revision": 0.93,
  "git-date": "Mon_Dec_19_16:41:15_2022_-0500",
  "annotations": [
{ "type"  : "star",   "pixelx": 120.5,         "pixely": 88.25,         "name"  : "Megrez",     "names" : [ "Megrez", "δ UMa / 69 UMa" ] } ,
{ "type"  : "star",   "pixelx": 300.1,         "pixely": 20,         "name"  : "Phecda",     "names" : [ "Phecda", "γ UMa / 64 UMa" ] } ,
{ "type"   : "ngc",   "names"  : [ "NGC 3556", "M 108" ],   "pixelx" : 400.2,   "pixely" : 310.9,   "radius" : 35.5 },
{ "type"   : "ngc",   "names"  : [ "IC 2574", "Coddington's Nebula" ],   "pixelx" : 10.2,   "pixely" : 30.9,   "radius" : 12 },
{ "type"  : "star",   "pixelx": 50,         "pixely": 60,         "name"  : "69 UMa",     "names" : [ "69 UMa" ] }
]
}
`;
