/**
 * The JSON endpoints under /api/ (docs/nova-protocol.md#endpoints), with nova's decorator order:
 * requires_json_args → requires_json_session → requires_json_login → handler, each failing
 * with its own exact message, HTTP 200, `text/plain`.
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readAnnotations } from './annotations.js';
import { lastValue, readForm, type ParsedForm } from './forms.js';
import { FILES, xyTable } from './ingest.js';
import { charField, convertOptions } from './parse-upload-options.js';
import { answerStatus } from './long-poll.js';
import { nowMicros } from './processor.js';
import {
  PyError,
  isDict,
  pyContains,
  pyDatetimeStr,
  pyFloat,
  pyFloatOf,
  pyInt,
  pyIter,
  pyLoads,
  pyStr,
  type Dumpable,
  type PyDict,
  type PyValue,
} from './python.js';
import { HttpError, notFound, sendApiError, sendJson, serverError } from './respond.js';
import { sessionCookie } from './sessions.js';
import type { Exchange, ServerContext } from './context.js';
import type { JobRow, SessionRow, SubmissionRow, SubmissionSource, UserImageRow } from './store/server-store.js';

// ---------------------------------------------------------------------------------------------
// decorators

interface JsonRequest {
  json: PyValue;
  form: ParsedForm;
}

/** requires_json_args: the `request-json` POST field, parsed. Null when an error was sent. */
async function jsonArgs(ctx: ServerContext, ex: Exchange): Promise<JsonRequest | null> {
  const form = await readForm(ex.req, ctx.formLimits);
  const raw = lastValue(form.fields, 'request-json');
  if (!raw) {
    await discardFile(form);
    sendApiError(ex.res, 'no json');
    return null;
  }
  let json: PyValue;
  try {
    json = pyLoads(raw);
  } catch {
    json = null;
  }
  if (json === null) {
    await discardFile(form);
    sendApiError(ex.res, `failed to parse JSON: "${raw}"`);
    return null;
  }
  return { json, form };
}

async function discardFile(form: ParsedForm): Promise<void> {
  if (form.file) await rm(form.file.path, { force: true });
}

/**
 * requires_json_session: `'session' in json` with Python's `in` (a list or string JSON value
 * gets there too), then the row lookup. Null when an error was sent.
 */
async function jsonSession(ctx: ServerContext, ex: Exchange, json: PyValue): Promise<SessionRow | null> {
  if (!pyContains(json, 'session')) {
    sendApiError(ex.res, 'no "session" in JSON.');
    return null;
  }
  if (!isDict(json)) throw new PyError('TypeError', 'indices must be integers or slices, not str');
  const key = json.get('session') as PyValue;
  if (Array.isArray(key) || isDict(key)) throw new PyError('TypeError', 'unhashable session key');
  const row = key === null ? undefined : await ctx.sessions.find(pyStr(key));
  if (!row) {
    sendApiError(ex.res, `no session with key "${pyStr(key)}"`);
    return null;
  }
  return row;
}

type SessionHandler = (args: { json: PyDict; form: ParsedForm; session: SessionRow; userId: number | null }) => Promise<void> | void;

/** args → session [→ login] → handler, then `session.save()` (sliding expiry) on success. */
async function withSession(ctx: ServerContext, ex: Exchange, requireLogin: boolean, handler: SessionHandler): Promise<void> {
  const args = await jsonArgs(ctx, ex);
  if (!args) return;
  let handedOff = false;
  try {
    const session = await jsonSession(ctx, ex, args.json);
    if (!session) return;
    const json = args.json as PyDict;
    const userId = ctx.sessions.userOf(session);
    if (requireLogin && userId === null) {
      sendApiError(ex.res, 'user is not authenticated.');
    } else {
      handedOff = true;
      await handler({ json, form: args.form, session, userId });
    }
    await ctx.sessions.touch(session);
  } finally {
    if (!handedOff) await discardFile(args.form);
  }
}

// ---------------------------------------------------------------------------------------------
// login

export async function login(ctx: ServerContext, ex: Exchange): Promise<void> {
  const args = await jsonArgs(ctx, ex);
  if (!args) return;
  await discardFile(args.form);
  const json = args.json;
  if (!isDict(json)) throw new PyError('AttributeError', "object has no attribute 'get'");
  const apikey = json.get('apikey') ?? null;
  if (apikey === null) {
    sendApiError(ex.res, 'need "apikey"');
    return;
  }
  if (Array.isArray(apikey) || isDict(apikey)) throw serverError('unhashable apikey');
  const user = ctx.findUserByKey(pyStr(apikey));
  if (!user) {
    sendApiError(ex.res, 'bad apikey');
    return;
  }
  const session = await ctx.sessions.create(user.id);
  sendJson(
    ex.res,
    { status: 'success', message: `authenticated user: ${user.email}`, session },
    { 'Set-Cookie': sessionCookie(session, ctx.sessions.ttlMs) },
  );
}

// ---------------------------------------------------------------------------------------------
// upload / url_upload

export function upload(ctx: ServerContext, ex: Exchange): Promise<void> {
  return withSession(ctx, ex, true, ({ json, form, userId }) => uploadCommon(ctx, ex, json, form, userId as number, undefined));
}

export function urlUpload(ctx: ServerContext, ex: Exchange): Promise<void> {
  return withSession(ctx, ex, true, async ({ json, form, userId }) => {
    await discardFile(form);
    const url = json.has('url') ? (json.get('url') as PyValue) : null;
    await uploadCommon(ctx, ex, json, { fields: form.fields }, userId as number, { url });
  });
}

async function uploadCommon(
  ctx: ServerContext,
  ex: Exchange,
  json: PyDict,
  form: ParsedForm,
  userId: number,
  urlUpload: { url: PyValue } | undefined,
): Promise<void> {
  let staged: { path: string; sha1: string; name: string; kind: 'file' | 'xy' } | null = null;
  try {
    if (json.has('x') && json.has('y')) {
      let x: number[];
      let y: number[];
      try {
        x = pyIter(json.get('x') as PyValue).map(pyFloatOf);
        y = pyIter(json.get('y') as PyValue).map(pyFloatOf);
      } catch {
        sendApiError(ex.res, 'Failed to parse JSON "x" and "y" values -- should be lists of floats');
        return;
      }
      if (x.length !== y.length) {
        sendApiError(ex.res, '"x" and "y" lists must be the same length');
        return;
      }
      // Not nova's (it has no budget), in nova's error shape.
      if (x.length > ctx.maxSourceRows) {
        sendApiError(ex.res, `"x" and "y" lists have ${x.length} items; this server reads at most ${ctx.maxSourceRows} (--max-source-rows)`);
        return;
      }
      await discardFile(form);
      const bytes = xyTable(x, y);
      const path = join(ctx.store.tmpDir, `xy-${nowMicros()}-${Math.random().toString(36).slice(2)}`);
      await writeFile(path, bytes, { mode: 0o600 });
      staged = { path, sha1: createHash('sha1').update(bytes).digest('hex'), name: 'json-xy', kind: 'xy' };
    } else if (form.file) {
      staged = { path: form.file.path, sha1: form.file.sha1, name: form.file.filename, kind: 'file' };
    }

    // License fields go through License.get_or_create before the album lookup.
    const allowCommercialUse = charField(json, 'allow_commercial_use', 'd', 1);
    const allowModifications = charField(json, 'allow_modifications', 'd', 2);

    if (json.has('album')) {
      // This server keeps no albums, so every title is unknown: nova's exact error, no submission.
      sendApiError(ex.res, `Failed to find an Album with title "${pyStr(json.get('album') as PyValue)}"`);
      return;
    }

    const options = convertOptions(json);
    const publiclyVisible = charField(json, 'publicly_visible', 'y', 1);
    let source: SubmissionSource;
    // As nova's upload_common: x/y lists become the submission's file for url_upload too (what
    // astroquery's solve_from_source_list sends), and the worker fetches a URL only without a file.
    if (staged) source = { kind: staged.kind, sha1: staged.sha1 };
    else if (urlUpload) {
      const url = urlUpload.url;
      if (url !== null && pyStr(url).length > 200) throw new PyError('DataError', 'value too long for type character varying(200)');
      source = { kind: 'url', url: url === null ? null : pyStr(url) };
    } else source = { kind: 'none' };

    const sub: SubmissionRow = {
      id: await ctx.store.nextId('submission'),
      userId,
      submittedAt: nowMicros(),
      processingStarted: null,
      processingFinished: null,
      errorMessage: null,
      source,
      originalFilename: staged?.name ?? '',
      options,
      publiclyVisible,
      allowCommercialUse,
      allowModifications,
    };
    const dir = ctx.store.submissionDir(sub.id);
    await mkdir(dir, { recursive: true });
    if (staged) {
      await rename(staged.path, join(dir, FILES.upload));
      staged = null;
    }
    // The answer promises a submission: it must survive a crash from here on.
    await ctx.store.insertSubmission(sub);
    ctx.processor.kick();
    ctx.log(`submission ${sub.id} created (${sub.source.kind})`);
    const answer: Record<string, Dumpable> = { status: 'success', subid: sub.id };
    if (source.kind === 'file' || source.kind === 'xy') answer['hash'] = source.sha1;
    sendJson(ex.res, answer);
  } finally {
    if (staged) await rm(staged.path, { force: true });
    else await discardFile(form).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// session-only and login endpoints

export function submissionImages(ctx: ServerContext, ex: Exchange): Promise<void> {
  return withSession(ctx, ex, false, async ({ json, form }) => {
    void discardFile(form);
    const subid = json.get('subid') ?? null;
    const sub = subid === null ? undefined : await ctx.store.submission(Number(lookupInt(subid)));
    if (!sub) {
      sendApiError(ex.res, 'submission does not exist');
      return;
    }
    sendJson(ex.res, { status: 'success', image_ids: (await ctx.store.userImagesOf(sub.id)).map((u) => u.id) });
  });
}

/** Django's IntegerField lookup of a JSON value: `int()`-like, a failure is a 500. */
function lookupInt(v: PyValue): bigint {
  if (typeof v === 'string' && !/^\s*[-+]?\d+\s*$/.test(v)) throw new PyError('ValueError', 'Field expected a number');
  return pyInt(v);
}

export function myjobs(ctx: ServerContext, ex: Exchange): Promise<void> {
  return withSession(ctx, ex, true, async ({ form, userId }) => {
    void discardFile(form);
    const jobs = await ctx.store.jobIdsOfUser(userId as number);
    sendJson(ex.res, { jobs, status: 'success' });
  });
}

/** sdss/galex_image_for_wcs: broken on nova's Python 3 (text-mode read of a PNG), so a 500. */
export function surveyImageForWcs(ctx: ServerContext, ex: Exchange): Promise<void> {
  return withSession(ctx, ex, false, ({ form }) => {
    void discardFile(form);
    throw serverError("UnicodeDecodeError: 'utf-8' codec can't decode byte 0x89 in position 0");
  });
}

// ---------------------------------------------------------------------------------------------
// status endpoints (no auth, any method, body ignored)

/** URL ids match `[0-9-]+`; Python `int()` must accept them or it is a 500 (e.g. `12-3`). */
export function parseUrlId(raw: string): number {
  if (!/^-?[0-9]+$/.test(raw)) throw serverError(`invalid literal for int() with base 10: '${raw}'`);
  const n = Number(BigInt(raw));
  return Number.isSafeInteger(n) ? n : -1;
}

async function jobOr404(ctx: ServerContext, rawId: string): Promise<JobRow> {
  const job = await ctx.store.job(parseUrlId(rawId));
  if (!job) throw notFound('Job');
  return job;
}

export function statusBlurb(job: JobRow): string {
  if (job.startedAt === null) return 'processing';
  if (job.endedAt === null) return 'solving';
  if (job.status === 'S') return 'success';
  if (job.status === 'F') return 'failure';
  return '?';
}

/** nova's `get_best_jobs`: one job per user image; prefer calibrated, then latest end (NULL first). */
async function bestJob(ctx: ServerContext, ui: UserImageRow): Promise<JobRow | null> {
  const jobs = await ctx.store.jobsOf(ui.id);
  if (jobs.length === 0) return null;
  if (jobs.length === 1) return jobs[0] ?? null;
  const solved = jobs.filter((j) => j.calibration !== null);
  const pool = solved.length > 0 ? solved : jobs;
  return [...pool].sort((a, b) => endKey(b) - endKey(a))[0] ?? null;
}

const endKey = (j: JobRow): number => (j.endedAt === null ? Number.POSITIVE_INFINITY : j.endedAt);

export function submissionStatus(ctx: ServerContext, ex: Exchange, rawId: string): Promise<void> {
  return answerStatus(ex, ctx.longPoll, () => submissionStatusBody(ctx, rawId), {
    // A job to follow, or an ingestion error: what a client waits for after its upload.
    job: (body) => {
      const b = body as { jobs: (number | null)[]; error_message?: string };
      return b.error_message !== undefined || b.jobs.some((j) => j !== null);
    },
  });
}

async function submissionStatusBody(ctx: ServerContext, rawId: string): Promise<Dumpable> {
  const sub = await ctx.store.submission(parseUrlId(rawId));
  if (!sub) throw notFound('Submission');
  const uis = await ctx.store.userImagesOf(sub.id);
  const jobs: (number | null)[] = [];
  const jobcals: [number, number][] = [];
  for (const ui of uis) {
    const job = await bestJob(ctx, ui);
    jobs.push(job ? job.id : null);
    if (job?.calibration) jobcals.push([job.id, job.calibration.id]);
  }
  return {
    user: sub.userId,
    processing_started: pyDatetimeStr(sub.processingStarted),
    processing_finished: pyDatetimeStr(sub.processingFinished),
    user_images: uis.map((u) => u.id),
    images: uis.map((u) => u.imageId),
    jobs,
    job_calibrations: jobcals,
    error_message: sub.errorMessage ? sub.errorMessage : undefined,
  };
}

export function jobStatus(ctx: ServerContext, ex: Exchange, rawId: string): Promise<void> {
  return answerStatus(ex, ctx.longPoll, async () => {
    const job = await jobOr404(ctx, rawId);
    // Extension (not in nova): why a failed job failed, when the solver could tell.
    return { status: statusBlurb(job), failure_reason: job.status === 'F' ? job.failureReason : undefined };
  }, {
    done: (body) => ['success', 'failure'].includes((body as { status: string }).status),
  });
}

function noCalibration(rawId: string): Dumpable {
  return { error: `no calibration data available for job ${parseUrlId(rawId)}` };
}

async function calibrationCore(ctx: ServerContext, job: JobRow, withSize: boolean): Promise<Dumpable | null> {
  const cal = job.calibration;
  if (!cal) return null;
  const ui = await ctx.store.userImage(job.userImageId);
  const image = ui && (await ctx.store.image(ui.imageId));
  const out: Record<string, Dumpable> = { ra: pyFloat(cal.ra), dec: pyFloat(cal.dec) };
  if (withSize) {
    out['width_arcsec'] = pyFloat(cal.width_arcsec ?? cal.pixscale * (image?.width ?? 0));
    out['height_arcsec'] = pyFloat(cal.height_arcsec ?? cal.pixscale * (image?.height ?? 0));
  }
  out['radius'] = pyFloat(cal.radius);
  out['pixscale'] = pyFloat(cal.pixscale);
  out['orientation'] = pyFloat(cal.orientation);
  out['parity'] = pyFloat(cal.parity);
  return out;
}

export async function calibration(ctx: ServerContext, ex: Exchange, rawId: string): Promise<void> {
  const job = await jobOr404(ctx, rawId);
  sendJson(ex.res, (await calibrationCore(ctx, job, true)) ?? noCalibration(rawId));
}

async function userImageOf(ctx: ServerContext, job: JobRow): Promise<UserImageRow> {
  const ui = await ctx.store.userImage(job.userImageId);
  if (!ui) throw serverError('job without user image');
  return ui;
}

export async function tags(ctx: ServerContext, ex: Exchange, rawId: string): Promise<void> {
  sendJson(ex.res, { tags: (await userImageOf(ctx, await jobOr404(ctx, rawId))).tags });
}

export async function machineTags(ctx: ServerContext, ex: Exchange, rawId: string): Promise<void> {
  sendJson(ex.res, { tags: (await userImageOf(ctx, await jobOr404(ctx, rawId))).machineTags });
}

export async function objectsInField(ctx: ServerContext, ex: Exchange, rawId: string): Promise<void> {
  sendJson(ex.res, { objects_in_field: (await userImageOf(ctx, await jobOr404(ctx, rawId))).objectsInField });
}

export async function annotations(ctx: ServerContext, ex: Exchange, rawId: string): Promise<void> {
  const job = await jobOr404(ctx, rawId);
  if (!job.calibration) {
    sendJson(ex.res, noCalibration(rawId));
    return;
  }
  const nbright = ex.url.searchParams.getAll('nbright').at(-1);
  // int() of the query value: garbage is a 500.
  const n = nbright === undefined ? 0 : Number(pyInt(nbright));
  // A solver without catalogues stores none; nova skips missing catalogues the same way.
  const stored = job.files['annotations'];
  const list = await readAnnotations(stored ? join(ctx.store.jobDir(job.id), stored) : null, n);
  sendJson(ex.res, {
    annotations: list.map((a) => ({
      type: a.type,
      names: a.names,
      pixelx: pyFloat(a.pixelx),
      pixely: pyFloat(a.pixely),
      radius: pyFloat(a.radius),
      ...(a.vmag !== undefined ? { vmag: pyFloat(a.vmag) } : {}),
    })),
  });
}

export async function jobInfo(ctx: ServerContext, ex: Exchange, rawId: string): Promise<void> {
  const job = await jobOr404(ctx, rawId);
  const ui = await userImageOf(ctx, job);
  sendJson(ex.res, {
    objects_in_field: ui.objectsInField,
    machine_tags: ui.machineTags,
    tags: ui.tags,
    status: statusBlurb(job),
    failure_reason: job.status === 'F' ? job.failureReason : undefined,
    original_filename: ui.originalFilename,
    calibration: (await calibrationCore(ctx, job, false)) ?? undefined,
  });
}

export async function jobsByTag(ctx: ServerContext, ex: Exchange): Promise<void> {
  const query = ex.url.searchParams.getAll('query').at(-1);
  const exact = ex.url.searchParams.getAll('exact').at(-1);
  let jobIds: number[] = [];
  if (exact) {
    if (query !== undefined) {
      const found = await ctx.store.jobsByTagExact(query);
      if (found.tags.length > 1) throw serverError('MultipleObjectsReturned: get() returned more than one Tag');
      jobIds = found.jobIds;
    }
  } else {
    if (query === undefined) throw serverError('ValueError: Cannot use None as a query value');
    jobIds = await ctx.store.jobsByTagContains(query);
  }
  sendJson(ex.res, { job_ids: jobIds });
}

export { HttpError };
