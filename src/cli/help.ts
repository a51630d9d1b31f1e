/** Help texts. */

export const MAIN_HELP = `usage: astrometry-net <command> [flags]

Plate-solve sky images with astrometry.net (nova.astrometry.net, or any nova-compatible server).

commands:
  solve INPUT...        solve images (files, directories, globs, URLs) or --source-list files
  status ID [--job]     state and ids of a submission (or of a job, with --job)
  results JOBID         fetch the result files of an existing job into --out
  jobs                  the ids of your account's jobs
  serve                 run the nova-compatible server (astrometry-net serve --help)
  indexes list|install  the index files serve solves with: list them, fetch those for a field
                        width from astrometry.net's data site (astrometry-net indexes --help)

where:
  --api-url URL         nova API base (default: ASTROMETRY_API_URL, else https://nova.astrometry.net/api/);
                        repeat it to spread the solves over several servers
  --shared-store        the --api-url servers share one database (serve nodes on one PostgreSQL):
                        any of them answers a poll
  --api-key KEY         your API key (default: ASTROMETRY_API_KEY, else the key file
                        $XDG_CONFIG_HOME/astrometry-net/api-key or ~/.config/astrometry-net/api-key)
  --local               start the embedded server (real solve-field, a generated key) and use it
  --local-solver NAME   solve-field (default) or simulated, with --local

  --help, -h            help (also: astrometry-net <command> --help)
  --version             the version

exit codes: 0 all solved, 1 some failed, 2 bad usage or options, 3 authentication refused.
`;

export const SOLVE_HELP = `usage: astrometry-net solve INPUT... [flags]

INPUT is an image file (FITS, JPEG, PNG...), a directory (its FITS/JPEG/PNG files), a glob
('data/**/*.fits', quoted so the shell leaves it alone) or an http(s) URL the server fetches.

inputs:
  --source-list FILE        star positions instead of an image: CSV or text "x y" per line, or a
                            FITS binary table with x and y columns (repeatable)
  --image-width PX          image size for source lists
  --image-height PX
  --local-extraction        find the stars here and upload only their x/y list (FITS, PNG, JPEG
                            files): the image never leaves this machine
  --hdu N|all               of a multi-extension FITS file, solve HDU N (0 is the primary) or
                            every HDU holding an image, each as an input of its own (name.fits[1],
                            stem name.hdu1); <stem>.solved.fits carries each HDU's own WCS

where: --api-url URL (repeat it for several servers; --shared-store when they share one
  database), --api-key KEY, --local [--local-solver simulated], --timeout SECONDS

scale (pick one way):
  --scale-units UNITS       degwidth (default), arcminwidth, arcsecperpix, focalmm
  --scale-low N --scale-high N      bounds, in scale units
  --scale-est N --scale-err PCT     estimate and error in percent
  --focal-length MM --pixel-size UM the optics: sent as arcsec/px = 206.265 * UM / MM, +-10 %
position:
  --ra RA --dec DEC --radius DEG    RA in degrees, or hours as 05:35:17.3 / 5h35m17.3s;
                                    Dec in degrees, or -05:23:28 / -5d23m28s
hints (FITS files): the header's pointing (OBJCTRA/OBJCTDEC, RA/DEC or a WCS) and optics
  (FOCALLEN with XPIXSZ, PIXSCALE, SECPIX or a WCS) are sent as --ra/--dec/--radius and an
  arcsec/px range of +-10 %; your own scale or position flags win. A hinted solve that fails is
  uploaded once more with no hint.
  --no-header-hints         read no header, send no hint
  --strict-hints            a hinted solve that fails stays failed (no blind retry)
  --sequence                frames of one session: one at a time, in order, each hinted by the
                            solution of the one before (its centre, radius and scale)
solver:
  --downsample N            shrink by N before finding stars (1-64)
  --tweak-order N           SIP distortion order (0-9; 0 = none)
  --parity pos|neg|both     image parity to try (default both)
  --crpix-center            put the reference pixel at the centre
  --invert                  dark stars on a light sky
  --use-sextractor          find stars with Source Extractor
  --positional-error PX     expected star position error
licence and visibility:
  --public, --private       list the image publicly or not (default: private)
  --allow-commercial yes|no|default
  --allow-modifications yes|share-alike|no|default
  --album TITLE             add to an existing album

output:
  --out DIR, -o DIR         where files go (default: the current directory)
  --wcs (default on; --no-wcs), --new-fits, --corr, --rdls, --axy, --image-rd,
  --annotated, --red-green, --extraction, --full-size (full-size plots)
                            files are named <input-stem>.<kind>, e.g. m42.wcs.fits; a FITS input
                            also gets <stem>.solved.fits: the input with the solved WCS cards
  each solved input's quality is printed: stars matched, their RMS residual, the log-odds, and
  SUSPECT for fewer than 8 matches or an RMS over 2 pixels
  --json                    print one JSON document (JSON Schema: the package file
                            astrometry-net-client/schema.json) on stdout

batch and resume:
  --concurrency N, -j N     inputs uploading/solving at once (default 2)
  a journal in <out>/.astrometry-net-journal/ records each input's state: run the same command
  again to skip done inputs and resume started ones from their submission or job. An input
  whose upload was cut off is never uploaded twice silently: it is reported as
  upload_interrupted; --reupload uploads it again. One run at a time per --out folder: a
  second exits 2 (a lock left by a killed run is taken over).

cache:
  a solved input is kept by its content (SHA-256) and upload options in
  $XDG_STATE_HOME/astrometry-net/solve-cache (default ~/.local/state/...; private files): the
  same content again (renamed or copied) is answered with no upload, and said so
  --no-cache                upload every input, and keep nothing

  --quiet, -q               only errors and the summary
  --verbose, -v             also each request's method and URL (keys never appear)
  --inspect                 watch the statecharts live: prints a local URL (127.0.0.1) to open
                            in a browser while the command runs; the page draws each machine
                            and marks the state of every solve. Works offline. Only state
                            names are sent: no key, no file bytes, no results.
  --inspect-stately         the same in the Stately inspector (online: the page loads
                            https://stately.ai/inspect; npm install @statelyai/inspect)

exit codes: 0 all solved, 1 some failed, 2 bad usage or options, 3 authentication refused.
`;

export const STATUS_HELP = `usage: astrometry-net status ID [--job] [--json]

Prints the state of submission ID (or of job ID with --job): the solve statechart's state,
the submission and job ids, the job's status and, once solved, where the image points.
Needs no API key. Exit code 0 when the status was read (whatever it is), 1 when not.

  --api-url URL, --local, --json
`;

export const RESULTS_HELP = `usage: astrometry-net results JOBID [--out DIR] [file flags]

Fetches the files of an existing job into --out (default: the current directory), named
job-<JOBID>.<kind> (or <stem>.<kind> with --stem). File flags as for solve: --wcs (default on),
--new-fits, --corr, --rdls, --axy, --image-rd, --annotated, --red-green, --extraction,
--full-size. --image FITS also writes <stem>.solved.fits: that FITS file with the job's WCS.
Waits for the job if it is still running. Needs no API key.

  --api-url URL, --local, --json, --timeout SECONDS
`;

export const JOBS_HELP = `usage: astrometry-net jobs [--json]

Lists the ids of your account's jobs (nova's myjobs), one per line.

  --api-url URL, --api-key KEY, --local, --json
`;
