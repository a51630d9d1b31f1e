import { useEffect, useState, type DragEvent } from 'react';
import { Wcs } from 'astrometry-net-client/wcs';
import { useSolve } from 'astrometry-net-client/react';
import { extractInWorker } from './extract';
import { pictureOf } from './picture';
import { SkyGrid } from './SkyGrid';

const STATE_LABELS: Record<string, string> = {
  idle: 'Drop an image to solve it',
  loggingIn: 'Logging in',
  uploading: 'Uploading',
  'submissionPending.waiting': 'Queued: the server is ingesting the image',
  'submissionPending.reading': 'Queued: asking the server',
  'jobRunning.waiting': 'Solving',
  'jobRunning.reading': 'Solving: asking the server',
  'jobRunning.readingCalibration': 'Solved: reading the calibration',
  'success.fetchingResults': 'Solved: fetching results',
  'success.ready': 'Solved',
  'failure.fetchingResults': 'Failed: fetching its log',
  'failure.ready': 'Failed',
};

export function App({ apiUrl }: { apiUrl: string }) {
  const solve = useSolve();
  const [over, setOver] = useState(false);
  const [annotated, setAnnotated] = useState<string | null>(null);
  const [keepLocal, setKeepLocal] = useState(false);
  const [extracting, setExtracting] = useState<string | null>(null);
  const [picture, setPicture] = useState<{ url: string; fitsRows: boolean } | null>(null);
  const [wcs, setWcs] = useState<Wcs | null>(null);

  // Once solved, fetch the annotated image (once: the machine caches it).
  useEffect(() => {
    if (solve.phase !== 'success' || annotated) return;
    let url: string | null = null;
    solve.fetchFile('annotatedDisplay').then(
      (file) => {
        url = URL.createObjectURL(new Blob([file.bytes as Uint8Array<ArrayBuffer>], { type: file.contentType }));
        setAnnotated(url);
      },
      () => setAnnotated(null),
    );
  }, [solve.phase]);

  // Once solved, the WCS: the grid is drawn from it over the user's own picture.
  useEffect(() => {
    if (solve.phase !== 'success' || wcs) return;
    solve.fetchFile('wcs').then((file) => setWcs(Wcs.fromFits(file.bytes)), () => setWcs(null));
  }, [solve.phase]);

  const start = async (file: File | undefined) => {
    if (!file) return;
    setAnnotated(null);
    setWcs(null);
    setPicture(null);
    pictureOf(file).then(setPicture, () => setPicture(null));
    const scale = { scaleUnits: 'degwidth', scaleLower: 1, scaleUpper: 40 } as const;
    if (!keepLocal) {
      solve.solve({ blob: file, filename: file.name }, scale);
      return;
    }
    setExtracting('Finding stars on this machine…');
    try {
      const stars = await extractInWorker(file);
      setExtracting(`${stars.x.length} stars found here; only their positions are sent.`);
      solve.solve({ sourceList: { x: stars.x, y: stars.y } }, { ...scale, imageWidth: stars.imageWidth, imageHeight: stars.imageHeight });
    } catch (error) {
      setExtracting(`Could not find stars: ${(error as Error).message}`);
    }
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    void start(e.dataTransfer.files[0]);
  };
  const upload = solve.upload;
  const c = solve.calibration;

  return (
    <main>
      <h1>Plate-solve an image</h1>
      <p>
        Server: <code>{apiUrl}</code>
      </p>
      <div
        className={`drop${over ? ' over' : ''}`}
        onDragOver={(e) => (e.preventDefault(), setOver(true))}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <p>Drop a FITS, JPEG or PNG here, or</p>
        <input type="file" accept=".fits,.fit,.fts,image/*" data-testid="file" onChange={(e) => void start(e.target.files?.[0])} />
      </div>
      <label>
        <input type="checkbox" data-testid="local" checked={keepLocal} onChange={(e) => setKeepLocal(e.target.checked)} /> Keep my image on
        this machine (find the stars here, in a Web Worker, and send only their positions)
      </label>
      {extracting && <p data-testid="extracting">{extracting}</p>}

      <p>
        State: <span className="state" data-testid="state">{solve.state}</span> {STATE_LABELS[solve.state] ?? ''}
        {solve.subid !== null && <> · submission {solve.subid}</>}
        {solve.jobId !== null && <> · job {solve.jobId}</>}
      </p>
      {solve.state === 'uploading' && upload && upload.totalBytes ? (
        <progress value={upload.sentBytes} max={upload.totalBytes} data-testid="upload-progress" />
      ) : null}
      {solve.error && (
        <p className="error" data-testid="error">
          {solve.error.code}: {solve.error.message}
        </p>
      )}
      {c && (
        <table data-testid="calibration">
          <tbody>
            <tr><th>RA</th><td data-field="ra">{c.ra.toFixed(5)}</td><td>degrees</td></tr>
            <tr><th>Dec</th><td data-field="dec">{c.dec.toFixed(5)}</td><td>degrees</td></tr>
            <tr><th>Pixel scale</th><td data-field="pixscale">{c.pixscale.toFixed(3)}</td><td>arcsec/pixel</td></tr>
            <tr><th>Orientation</th><td data-field="orientation">{c.orientation.toFixed(2)}</td><td>degrees E of N</td></tr>
            <tr><th>Field radius</th><td data-field="radius">{c.radius.toFixed(3)}</td><td>degrees</td></tr>
          </tbody>
        </table>
      )}
      {wcs && (
        <p data-testid="wcs">
          From the WCS: centre RA <span data-field="ra">{wcs.center.ra.toFixed(5)}</span>, Dec <span data-field="dec">{wcs.center.dec.toFixed(5)}</span>,{' '}
          {wcs.pixelScale.toFixed(3)}″/px, position angle {wcs.positionAngle.toFixed(2)}°
        </p>
      )}
      {wcs && picture && <SkyGrid wcs={wcs} src={picture.url} fitsRows={picture.fitsRows} />}
      {annotated && !keepLocal && <img src={annotated} alt="The field with its stars and objects annotated" data-testid="annotated" />}
    </main>
  );
}
