/**
 * The results a solve fetches on demand, after its calibration: the job's info, tags and
 * annotations, and its result files. Loaded by the first such fetch (most solves ask only
 * for the calibration), so a bundle of `Client` does not carry them.
 */
import { UnexpectedContentError } from '../errors.js';
import type { Annotation, JobInfo } from './models.js';
import { getJson } from './api.js';
import { bad, calibrationFrom, decodeJobStatus, num, strings } from './decode.js';
import { exchange, type ExchangeContext } from './exchange.js';
import type { FileResultKind, ResultFile } from './result-kinds.js';
import { FILE_RESULTS, type FileKindSpec } from './result-files.js';
import { apiEndpoint, siteRoot } from './urls.js';

type Json = Record<string, unknown>;

export function info(ctx: ExchangeContext, jobId: number): Promise<JobInfo> {
  return getJson(ctx, `jobs/${jobId}/info`, decodeInfo);
}

export function tags(ctx: ExchangeContext, jobId: number, which: 'tags' | 'machine_tags' | 'objects_in_field'): Promise<string[]> {
  return getJson(ctx, `jobs/${jobId}/${which}`, (json, url) => decodeTags(json, url, which === 'objects_in_field' ? 'objects_in_field' : 'tags'));
}

export function annotations(ctx: ExchangeContext, jobId: number, nbright?: number): Promise<Annotation[] | undefined> {
  const query = nbright === undefined ? '' : `?nbright=${nbright}`;
  return getJson(ctx, `jobs/${jobId}/annotations${query}`, decodeAnnotations);
}

/**
 * Downloads a result file. nova's human gate wants any Referer (docs/nova-protocol.md#referer-gate); a missing file
 * comes back as an HTML 500 or, for some kinds, as HTML with status 200, so the content type
 * decides whether this is the file.
 */
/**
 * `solved`: the job succeeded, so a file every solve has (the WCS, the star tables) exists, and
 * a page in its place is the front end's: asked again until the deadline. Otherwise (a failed
 * job, or a file only an image upload has) nova may answer a file it will never have with a
 * page too, and it is asked twice only.
 */
export function resultFile(ctx: ExchangeContext, kind: FileResultKind, jobId: number, solved = false): Promise<ResultFile> {
  const spec = FILE_RESULTS[kind];
  const url = `${siteRoot(ctx.apiUrl)}${spec.path}/${jobId}`;
  return exchange(ctx, {
    method: 'GET',
    url,
    headers: { referer: apiEndpoint(ctx.apiUrl, 'login') },
    idempotent: true,
    answer: 'file',
    ...(solved && spec.everySolve ? { contentRetries: Number.POSITIVE_INFINITY } : {}),
    ...(spec.maxBytes !== undefined ? { maxBytes: spec.maxBytes } : {}),
    read: (response) => {
      const contentType = (response.headers['content-type'] ?? '').toLowerCase();
      const details = { url, status: response.status, contentType, bodyStart: new TextDecoder().decode(response.body.subarray(0, 120)) };
      // An HTML page in place of the file is the front end or a gate: asking again may work.
      if (response.status !== 200 || !spec.accepts.some((prefix) => contentType.startsWith(prefix))) {
        throw new UnexpectedContentError(`the ${kind} file`, { ...details, transient: true });
      }
      // The right type with no usable content (an empty WCS, a FITS file without its header) is
      // not a result, and asking again would give the same bytes.
      const problem = fileProblem(spec, response.body);
      if (problem) throw new UnexpectedContentError(`the ${kind} file (${problem})`, details, { jobId });
      return { kind, filename: spec.filename, contentType, bytes: response.body };
    },
  });
}

const FITS_MAGIC = 'SIMPLE  =';

function fileProblem(spec: FileKindSpec, bytes: Uint8Array): string | undefined {
  if (bytes.byteLength === 0) return 'it is empty';
  if (spec.format === 'fits') {
    const start = new TextDecoder().decode(bytes.subarray(0, FITS_MAGIC.length));
    if (start !== FITS_MAGIC || bytes.byteLength < 2880) return 'it does not start with a FITS header';
  }
  return undefined;
}

function decodeInfo(json: Json, url: string): JobInfo {
  const status = decodeJobStatus(json, url);
  const info: JobInfo = {
    status,
    original_filename: typeof json.original_filename === 'string' ? json.original_filename : '',
    objects_in_field: strings(json.objects_in_field),
    machine_tags: strings(json.machine_tags),
    tags: strings(json.tags),
  };
  if (json.calibration && typeof json.calibration === 'object') {
    const cal = calibrationFrom(json.calibration as Json);
    if (cal) info.calibration = cal;
  }
  return info;
}

function decodeTags(json: Json, url: string, key: 'tags' | 'objects_in_field'): string[] {
  if (!Array.isArray(json[key])) throw bad(`a "${key}" list`, url, json);
  return strings(json[key]);
}

/** `undefined` when the job has no calibration yet. */
function decodeAnnotations(json: Json, url: string): Annotation[] | undefined {
  if (typeof json.error === 'string') return undefined;
  if (!Array.isArray(json.annotations)) throw bad('an annotations list', url, json);
  return json.annotations
    .filter((a): a is Json => typeof a === 'object' && a !== null)
    .map((a) => {
      const out: Annotation = {
        type: typeof a.type === 'string' ? a.type : '',
        names: strings(a.names),
        pixelx: num(a.pixelx) ?? 0,
        pixely: num(a.pixely) ?? 0,
        radius: num(a.radius) ?? 0,
      };
      const vmag = num(a.vmag);
      if (vmag !== undefined) out.vmag = vmag;
      return out;
    });
}

