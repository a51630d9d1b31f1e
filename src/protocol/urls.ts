/** Where each nova resource lives, relative to the API base URL (`.../api/`). */

export const DEFAULT_API_URL = 'https://nova.astrometry.net/api/';

/** Normalises an API base so paths can be appended: always ends in `/`. */
export function normaliseApiUrl(apiUrl: string): string {
  return apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/`;
}

/** The site root that the non-API download URLs hang off: the API base without `api/`. */
export function siteRoot(apiUrl: string): string {
  const base = normaliseApiUrl(apiUrl);
  return base.replace(/api\/$/, '');
}

export function apiEndpoint(apiUrl: string, path: string): string {
  return normaliseApiUrl(apiUrl) + path;
}

/** True for the public nova service, whose front end blocks clients that poll fast. */
export function isPublicNova(apiUrl: string): boolean {
  try {
    return new URL(apiUrl).hostname.endsWith('nova.astrometry.net');
  } catch {
    return false;
  }
}
