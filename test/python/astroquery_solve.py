#!/usr/bin/python3
"""Solve one image (or x/y source list) with astroquery's AstrometryNet against a nova server.

Used by test/astroquery.test.ts against `astrometry-net serve`. Run it with Debian's
/usr/bin/python3 (python3-astroquery; scripts/install-astroquery.sh):

    /usr/bin/python3 test/python/astroquery_solve.py --server http://127.0.0.1:8080 \
        --api-key KEY --image test/fixtures/small.png [--timeout 60] [--settings '{"scale_units": ...}']
    ... --xy sources.fits --width 640 --height 480      (X, Y columns of the first table HDU)

The server and key may also come from NOVA_SERVER and NOVA_API_KEY. astroquery is used as a
user would configure it: an `astroquery.cfg` with `[astrometry_net] server = ...` and
`api_key = ...` (astroquery reads `server` once, when the module is imported, into
AstrometryNet.URL and API_URL). The config and cache live in a temporary directory, so the
user's ~/.astropy is never read or written.

stdout gets one JSON object: the WCS header's cards, its CRVAL, the field centre and pixel scale
computed from it, and every request astroquery made. astroquery's own progress output goes to
stderr. Exit status 0 when astroquery returned (solved or not), 1 on an exception.
"""
import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from urllib.parse import urlsplit


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--server', default=os.environ.get('NOVA_SERVER'),
                        help="the site root, e.g. http://127.0.0.1:8080 (astroquery appends /api/...)")
    parser.add_argument('--api-key', default=os.environ.get('NOVA_API_KEY'))
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--image', help='image file to upload (solve_from_image, force_image_upload=True)')
    source.add_argument('--xy', help='FITS table with X and Y columns (solve_from_source_list)')
    parser.add_argument('--width', type=int, help='image width for --xy')
    parser.add_argument('--height', type=int, help='image height for --xy')
    parser.add_argument('--timeout', type=float, default=60, help='solve_timeout, seconds')
    parser.add_argument('--settings', default='{}', help='JSON object of astroquery solve settings')
    args = parser.parse_args()
    if not args.server or not args.api_key:
        parser.error('--server and --api-key (or NOVA_SERVER and NOVA_API_KEY) are required')
    if args.xy and (args.width is None or args.height is None):
        parser.error('--xy needs --width and --height')
    settings = json.loads(args.settings)

    from astropy.config import set_temp_cache, set_temp_config

    scratch = tempfile.mkdtemp(prefix='astroquery-solve-')
    try:
        os.makedirs(os.path.join(scratch, 'config', 'astropy'))
        os.makedirs(os.path.join(scratch, 'cache'))
        with open(os.path.join(scratch, 'config', 'astropy', 'astroquery.cfg'), 'w') as f:
            f.write('[astrometry_net]\nserver = {}\napi_key = {}\ntimeout = {}\n'.format(
                args.server, args.api_key, int(args.timeout)))
        with set_temp_config(os.path.join(scratch, 'config')), set_temp_cache(os.path.join(scratch, 'cache')):
            return solve(args, settings)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def solve(args, settings):
    import astroquery
    from astroquery.astrometry_net import AstrometryNet

    requests_seen = []

    def record(response, *_args, **_kwargs):
        url = urlsplit(response.request.url)
        requests_seen.append({
            'method': response.request.method,
            'path': url.path,
            'status': response.status_code,
            'content_type': response.headers.get('Content-Type'),
            'request_content_type': response.request.headers.get('Content-Type'),
            'referer': response.request.headers.get('Referer'),
        })

    AstrometryNet._session.hooks['response'].append(record)

    out = {
        'astroquery_version': astroquery.__version__,
        'url': AstrometryNet.URL,
        'api_url': AstrometryNet.API_URL,
        'requests': requests_seen,
    }
    started = time.time()
    try:
        # astroquery prints its progress ("Solving....") on stdout: keep stdout for the JSON.
        with contextlib.redirect_stdout(sys.stderr):
            if args.image:
                header = AstrometryNet.solve_from_image(args.image, force_image_upload=True,
                                                        solve_timeout=args.timeout, **settings)
            else:
                from astropy.io import fits
                with fits.open(args.xy) as hdus:
                    table = next(h for h in hdus if isinstance(h, fits.BinTableHDU)).data
                    x = [float(v) for v in table['X']]
                    y = [float(v) for v in table['Y']]
                header = AstrometryNet.solve_from_source_list(x, y, args.width, args.height,
                                                              solve_timeout=args.timeout, **settings)
    except Exception as e:
        out['error'] = '{}: {}'.format(type(e).__name__, e)
        out['seconds'] = round(time.time() - started, 3)
        traceback.print_exc()
        print(json.dumps(out))
        return 1
    out['seconds'] = round(time.time() - started, 3)
    out['solved'] = bool(header)
    if header:
        out.update(describe(header))
    print(json.dumps(out))
    return 0


def describe(header):
    """The WCS header's value cards, CRVAL, and the field centre and scale computed from it."""
    import warnings
    import numpy as np
    from astropy.wcs import WCS, FITSFixedWarning

    cards = {}
    for card in header.cards:
        if card.keyword in ('COMMENT', 'HISTORY', ''):
            continue
        value = card.value
        if isinstance(value, (bool, int, float, str)):
            cards[card.keyword] = value
    with warnings.catch_warnings():
        # nova's wcs.fits is a header-only primary HDU (NAXIS = 0): astropy warns about that.
        warnings.simplefilter('ignore', FITSFixedWarning)
        wcs = WCS(header)
    width, height = header['IMAGEW'], header['IMAGEH']
    # FITS pixel centres are 1-based: the image centre is ((W+1)/2, (H+1)/2); SIP applied.
    ra, dec = wcs.all_pix2world([(width + 1) / 2], [(height + 1) / 2], 1)
    cd = np.array([[header['CD1_1'], header['CD1_2']], [header['CD2_1'], header['CD2_2']]])
    return {
        'header': cards,
        'crval': [header['CRVAL1'], header['CRVAL2']],
        'centre': {'ra': float(ra[0]), 'dec': float(dec[0])},
        'pixscale': float(np.sqrt(abs(np.linalg.det(cd))) * 3600),
        'image_size': [width, height],
    }


if __name__ == '__main__':
    sys.exit(main())
