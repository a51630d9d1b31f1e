import type { ExtractedSources } from 'astrometry-net-client/extract';

/** Runs extractSources in a Web Worker; the image stays in this browser. */
export function extractInWorker(file: Blob): Promise<ExtractedSources> {
  const worker = new Worker(new URL('./extract.worker.ts', import.meta.url), { type: 'module' });
  return new Promise<ExtractedSources>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<{ ok: true; stars: ExtractedSources } | { ok: false; message: string }>) => {
      worker.terminate();
      if (e.data.ok) resolve(e.data.stars);
      else reject(new Error(e.data.message));
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(e.message));
    };
    worker.postMessage(file);
  });
}
