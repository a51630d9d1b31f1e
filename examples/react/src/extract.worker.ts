// Star extraction off the main thread: the image's bytes come in, only the x/y list goes out.
import { extractSources } from 'astrometry-net-client/extract';

self.onmessage = async (e: MessageEvent<Blob>) => {
  try {
    const stars = await extractSources(e.data, { maxSources: 100 });
    self.postMessage({ ok: true, stars });
  } catch (error) {
    self.postMessage({ ok: false, message: (error as Error).message });
  }
};
