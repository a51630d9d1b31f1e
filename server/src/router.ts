/**
 * nova's URL table (net/urls.py), in its order: patterns match the percent-decoded path
 * without its leading slash; a trailing slash is optional; some patterns have no `$` and so
 * match any suffix (`api/myjobs`, `joblog`, `annotated_*`); anything unmatched falls through
 * to the home page with HTTP 200. Views outside /api/ are not CSRF-exempt.
 */
import * as api from './endpoints.js';
import * as dl from './downloads.js';
import type { Exchange, ServerContext } from './context.js';
import { askHumanPage, homePage } from './html.js';
import { sendHtml } from './respond.js';
import { serverInfo } from './server-info.js';

export type Handler = (ctx: ServerContext, ex: Exchange, m: RegExpExecArray) => Promise<void> | void;

export interface Route {
  re: RegExp;
  /** Name reported in `requests[].endpoint` and matched by faults. */
  endpoint: (m: RegExpExecArray) => string;
  /** Views under /api/ are `@csrf_exempt`; others reject POST without a CSRF token. */
  csrfExempt: boolean;
  /** Reads `request-json` from the body (others ignore the body). */
  readsBody: boolean;
  handler: Handler;
}

const ID = '([0-9-]+)';
const named = (n: string) => () => n;
const g = (m: RegExpExecArray, i: number): string => m[i] ?? '';

function view(re: RegExp, endpoint: string | ((m: RegExpExecArray) => string), handler: Handler): Route {
  return { re, endpoint: typeof endpoint === 'string' ? named(endpoint) : endpoint, csrfExempt: false, readsBody: false, handler };
}

function apiRoute(re: RegExp, endpoint: string, handler: Handler, readsBody = false): Route {
  return { re, endpoint: named(endpoint), csrfExempt: true, readsBody, handler };
}

const home: Handler = (_ctx, ex) => sendHtml(ex.res, 200, homePage());

export const ROUTES: readonly Route[] = [
  view(/^new_fits_file\/6490673$/, 'new_fits_file', dl.dosError),
  view(/^$/, 'home', home),
  view(/^ask_human$/, 'ask_human', (_c, ex) => sendHtml(ex.res, 200, askHumanPage(ex.url.searchParams.get('next')))),
  view(new RegExp(`^joblog/${ID}/?`), 'joblog', (c, ex, m) => dl.joblog(c, ex, g(m, 1), 1)),
  view(new RegExp(`^joblog2/${ID}/?`), 'joblog2', (c, ex, m) => dl.joblog(c, ex, g(m, 1), 2)),
  view(new RegExp(`^(annotated_(?:full|display))/${ID}/?`), (m) => g(m, 1), (c, ex, m) => dl.plot(c, ex, g(m, 1), g(m, 2))),
  view(new RegExp(`^(grid_(?:full|display))/${ID}/?`), (m) => g(m, 1), (c, ex, m) => dl.plot(c, ex, g(m, 1), g(m, 2))),
  view(new RegExp(`^image/${ID}/?$`), 'image', (c, ex, m) => dl.serveImage(c, ex, 'image', g(m, 1))),
  view(new RegExp(`^wwt_image/${ID}/?$`), 'wwt_image', (c, ex, m) => dl.serveImage(c, ex, 'wwt_image', g(m, 1))),
  view(new RegExp(`^thumbnail_of_image/${ID}/?$`), 'thumbnail_of_image', (c, ex, m) =>
    dl.serveImage(c, ex, 'thumbnail_of_image', g(m, 1)),
  ),
  view(new RegExp(`^((?:red_green|extraction)_image_(?:full|display))/${ID}/?$`), (m) => g(m, 1), (c, ex, m) =>
    dl.plot(c, ex, g(m, 1), g(m, 2)),
  ),
  view(new RegExp(`^(wcs_file|rdls_file|axy_file|corr_file)/${ID}/?$`), (m) => g(m, 1), (c, ex, m) =>
    dl.fitsFile(c, ex, g(m, 1), g(m, 2)),
  ),
  view(new RegExp(`^new_fits_file/${ID}/?$`), 'new_fits_file', (c, ex, m) => dl.newFitsFile(c, ex, g(m, 1))),
  view(new RegExp(`^kml_file/${ID}/?$`), 'kml_file', dl.kmlFile),
  view(new RegExp(`^image_rd_file/${ID}/?$`), 'image_rd_file', (c, ex, m) => dl.imageRdFile(c, ex, g(m, 1))),

  apiRoute(/^api\/login\/?$/, 'login', api.login, true),
  apiRoute(/^api\/upload\/?$/, 'upload', api.upload, true),
  apiRoute(/^api\/url_upload\/?$/, 'url_upload', api.urlUpload, true),
  apiRoute(/^api\/sdss_image_for_wcs\/?$/, 'sdss_image_for_wcs', api.surveyImageForWcs, true),
  apiRoute(/^api\/galex_image_for_wcs\/?$/, 'galex_image_for_wcs', api.surveyImageForWcs, true),
  apiRoute(/^api\/submission_images\/?$/, 'submission_images', api.submissionImages, true),
  apiRoute(new RegExp(`^api/submissions/${ID}/?$`), 'submission', (c, ex, m) => api.submissionStatus(c, ex, g(m, 1))),
  apiRoute(/^api\/myjobs\/?/, 'myjobs', api.myjobs, true),
  apiRoute(new RegExp(`^api/jobs/${ID}/?$`), 'job', (c, ex, m) => api.jobStatus(c, ex, g(m, 1))),
  apiRoute(new RegExp(`^api/jobs/${ID}/calibration/?$`), 'calibration', (c, ex, m) => api.calibration(c, ex, g(m, 1))),
  apiRoute(new RegExp(`^api/jobs/${ID}/tags/?$`), 'tags', (c, ex, m) => api.tags(c, ex, g(m, 1))),
  apiRoute(new RegExp(`^api/jobs/${ID}/machine_tags/?$`), 'machine_tags', (c, ex, m) => api.machineTags(c, ex, g(m, 1))),
  apiRoute(new RegExp(`^api/jobs/${ID}/objects_in_field/?$`), 'objects_in_field', (c, ex, m) =>
    api.objectsInField(c, ex, g(m, 1)),
  ),
  apiRoute(/^api\/jobs\/([0-9-]+|JOBID)\/annotations\/?$/, 'annotations', (c, ex, m) => api.annotations(c, ex, g(m, 1))),
  apiRoute(new RegExp(`^api/jobs/${ID}/info/?$`), 'info', (c, ex, m) => api.jobInfo(c, ex, g(m, 1))),
  apiRoute(/^api\/jobs_by_tag\/?$/, 'jobs_by_tag', (c, ex) => api.jobsByTag(c, ex)),
  // Extension (not in nova): what this server solves and its limits.
  apiRoute(/^api\/server_info\/?$/, 'server_info', (c, ex) => serverInfo(c.serverInfo, ex)),
];

/** The catch-all `re_path(r'', home)`. */
export const HOME_ROUTE: Route = view(/(?:)/, 'home', home);

export function route(path: string): { route: Route; match: RegExpExecArray } {
  for (const r of ROUTES) {
    const m = r.re.exec(path);
    if (m) return { route: r, match: m };
  }
  return { route: HOME_ROUTE, match: /(?:)/.exec(path) as RegExpExecArray };
}
