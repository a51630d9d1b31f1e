/**
 * The account's questions: myjobs, jobs_by_tag, submission_images, and `serve`'s server_info.
 * Loaded with the account tasks on a Session's first such question.
 */
import { NotFoundError } from '../errors.js';
import { form, getJson } from './api.js';
import { bad, ints } from './decode.js';
import { exchange, exchangeJson, parseJsonBody, type ExchangeContext } from './exchange.js';
import { apiEndpoint } from './urls.js';

type Json = Record<string, unknown>;

/**
 * `GET /api/server_info`, an extension of this package's `serve`. nova has no such endpoint and
 * answers an unknown path with its home page (HTML, 200): that, or a 404, means "not here".
 */
export async function serverInfo(ctx: ExchangeContext): Promise<Record<string, unknown> | null> {
  const url = apiEndpoint(ctx.apiUrl, 'server_info');
  try {
    return await exchange(ctx, {
      method: 'GET',
      url,
      idempotent: true,
      answer: 'json',
      read: (response) => {
        if ((response.headers['content-type'] ?? '').startsWith('text/html')) return null;
        try {
          const json = parseJsonBody(response, url);
          return typeof json.server === 'string' ? json : null;
        } catch {
          return null;
        }
      },
    });
  } catch (error) {
    if (error instanceof NotFoundError) return null;
    throw error;
  }
}

export function myJobs(ctx: ExchangeContext, session: string): Promise<number[]> {
  const url = apiEndpoint(ctx.apiUrl, 'myjobs/');
  return exchangeJson(ctx, { method: 'POST', url, body: form({ session }), idempotent: true }, (json) => decodeIdList(json, url, 'jobs'));
}

export function jobsByTag(ctx: ExchangeContext, query: string, exact: boolean): Promise<number[]> {
  const params = new URLSearchParams({ query });
  if (exact) params.set('exact', '1');
  return getJson(ctx, `jobs_by_tag?${params}`, (json, url) => decodeIdList(json, url, 'job_ids'));
}

export function submissionImages(ctx: ExchangeContext, session: string, subid: number): Promise<number[]> {
  const url = apiEndpoint(ctx.apiUrl, 'submission_images');
  const body = form({ session, subid });
  return exchangeJson(ctx, { method: 'POST', url, body, idempotent: true }, (json) => decodeIdList(json, url, 'image_ids'));
}

function decodeIdList(json: Json, url: string, key: 'jobs' | 'job_ids' | 'image_ids'): number[] {
  if (!Array.isArray(json[key])) throw bad(`a "${key}" list`, url, json);
  return ints(json[key]);
}
