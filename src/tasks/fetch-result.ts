/**
 * A result of a solved job, as the solve machine's `fetchResult` actor asks for it: a JSON
 * result or a result file, each fetched once and cached by the machine.
 */
import type { FetchedResult, ResultRequest } from '../../machines/solve.machine.js';
import { UnexpectedContentError } from '../errors.js';
import * as api from '../protocol/api.js';
import type { ExchangeContext } from '../protocol/exchange.js';
import { isFileResultKind } from '../protocol/result-kinds.js';
import * as results from '../protocol/results-api.js';

export async function fetchResult(ctx: ExchangeContext, jobId: number, request: ResultRequest, solved = false): Promise<FetchedResult> {
  const { kind } = request;
  if (isFileResultKind(kind)) return { kind, value: await results.resultFile(ctx, kind, jobId, solved) };
  switch (kind) {
    case 'calibration': {
      const value = await api.calibration(ctx, jobId);
      if (!value) throw notSolved(ctx, jobId, 'calibration');
      return { kind, value };
    }
    case 'info':
      return { kind, value: await results.info(ctx, jobId) };
    case 'tags':
      return { kind, value: await results.tags(ctx, jobId, 'tags') };
    case 'machineTags':
      return { kind, value: await results.tags(ctx, jobId, 'machine_tags') };
    case 'objectsInField':
      return { kind, value: await results.tags(ctx, jobId, 'objects_in_field') };
    case 'annotations': {
      const value = await results.annotations(ctx, jobId, request.nbright);
      if (!value) throw notSolved(ctx, jobId, 'annotations');
      return request.nbright === undefined ? { kind, value } : { kind, nbright: request.nbright, value };
    }
  }
}

function notSolved(ctx: ExchangeContext, jobId: number, what: string): UnexpectedContentError {
  return new UnexpectedContentError(
    what,
    { url: `${ctx.apiUrl}jobs/${jobId}/${what}`, status: 200, contentType: 'text/plain', bodyStart: 'no calibration data available' },
    { jobId },
  );
}
