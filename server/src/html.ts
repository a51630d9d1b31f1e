/**
 * The HTML bodies nova answers with where a client expected JSON or a file (docs/nova-protocol.md#html-instead-of-json).
 * They matter only as "not JSON, text/html"; the texts follow Django's stock pages with
 * DEBUG off, and nginx's for the front end.
 */

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function djangoPage(title: string, body: string): string {
  return (
    '\n<!doctype html>\n<html lang="en">\n<head>\n' +
    `  <title>${title}</title>\n</head>\n<body>\n  ${body}\n</body>\n</html>\n`
  );
}

export const homePage = (): string =>
  '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n' +
  '<title>Astrometry.net</title>\n</head>\n<body>\n' +
  '<h1>Astrometry.net</h1>\n' +
  '<p>A local nova-compatible plate-solving service. The API lives under <a href="/api/">/api/</a>;' +
  ' see the astrometry.net API documentation.</p>\n' +
  '<p><a href="/upload">Upload</a> &middot; <a href="/api_help">API help</a></p>\n' +
  '</body>\n</html>\n';

export const notFoundPage = (): string =>
  djangoPage('Not Found', '<h1>Not Found</h1><p>The requested resource was not found on this server.</p>');

export const serverErrorPage = (): string => djangoPage('Server Error (500)', '<h1>Server Error (500)</h1><p></p>');

export const badRequestPage = (): string => djangoPage('Bad Request (400)', '<h1>Bad Request (400)</h1><p></p>');

export const csrfFailurePage = (): string =>
  djangoPage(
    '403 Forbidden',
    '<h1>Forbidden <span>(403)</span></h1><p>CSRF verification failed. Request aborted.</p>',
  );

export const tooLargePage = (): string => nginxPage(413, 'Request Entity Too Large');

/** Front-end pages (status codes that never come from Django itself). */
export function nginxPage(status: number, reason: string): string {
  return (
    `<html>\r\n<head><title>${status} ${reason}</title></head>\r\n<body>\r\n` +
    `<center><h1>${status} ${reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`
  );
}

export function askHumanPage(next: string | null): string {
  const n = escapeHtml(next ?? '');
  return (
    '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>Astrometry.net</title>\n</head>\n<body>\n' +
    '<h1>Are you human?</h1>\n' +
    '<form method="post" action="/am_human">\n' +
    '<input type="checkbox" name="human" value="yup"> I am a human\n' +
    `<input type="hidden" name="next" value="${n}">\n` +
    '<input type="submit" value="Continue">\n</form>\n' +
    '<p>Programs: send a <code>Referer</code> header, or keep the session cookie from <code>/api/login</code>.</p>\n' +
    '</body>\n</html>\n'
  );
}

export function statusReason(status: number): string {
  const reasons: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    408: 'Request Timeout',
    413: 'Request Entity Too Large',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
    504: 'Gateway Time-out',
  };
  return reasons[status] ?? 'Error';
}
