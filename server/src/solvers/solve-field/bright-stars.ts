/**
 * Visual magnitudes of the named bright stars, for nova's `vmag` in annotations and for
 * `nbright=N` (the N brightest). plot-constellations draws these stars from the catalogue built
 * into libastrometry but prints no magnitude, so the catalogue is read from that same library
 * (its `bright_stars_get`) through Python's ctypes, once per server process. Without python3 or
 * the library the map is empty, and annotations go without `vmag`, as nova's do for stars its
 * catalogue lacks (and `nbright=N` keeps the first N in plot-constellations' order); such a failure is not kept, so the next job asks again (python3 installed
 * while serve runs, or a dump that timed out on a busy machine, is then used).
 */
import { runProgram } from './run.js';

/** Python: dump (designation, common name, V) of every catalogue star as JSON. */
const DUMP = `
import ctypes, json
lib = ctypes.CDLL('libastrometry.so.0')
class Star(ctypes.Structure):
    _fields_ = [('name', ctypes.c_char_p), ('common', ctypes.c_char_p), ('ra', ctypes.c_double), ('dec', ctypes.c_double), ('vmag', ctypes.c_double)]
lib.bright_stars_get.restype = ctypes.POINTER(Star)
out = []
for i in range(lib.bright_stars_n()):
    s = lib.bright_stars_get(i).contents
    out.append([(s.name or b'').decode('utf-8', 'replace'), (s.common or b'').decode('utf-8', 'replace'), s.vmag])
print(json.dumps(out))
`;

const DUMP_TIMEOUT_MS = 15_000;

/** The catalogue once read; only a dump that gave magnitudes is kept. */
let cached: Promise<Map<string, number>> | undefined;

/** Both names of each star (designation, common name) to its V magnitude. Never rejects. */
export function brightStarMagnitudes(log: (line: string) => void = () => {}, python = 'python3'): Promise<Map<string, number>> {
  if (cached) return cached;
  // Callers that come while this dump runs share it; a failed one is forgotten for the next.
  const dump: Promise<Map<string, number>> = readMagnitudes(log, python).then((map) => {
    if (map.size === 0 && cached === dump) cached = undefined;
    return map;
  });
  cached = dump;
  return dump;
}

/** One dump of the catalogue; an empty map (said in `log`) when it fails. */
async function readMagnitudes(log: (line: string) => void, python: string): Promise<Map<string, number>> {
  const r = await runProgram(python, ['-c', DUMP], { cwd: process.cwd(), timeoutMs: DUMP_TIMEOUT_MS, stdout: 'capture', stderr: 'capture' });
  const map = new Map<string, number>();
  try {
    if (r.code !== 0) throw new Error(r.spawnError?.message ?? r.stderr.trim().split('\n').at(-1) ?? `exit ${r.code}`);
    for (const [name, common, vmag] of JSON.parse(r.stdout) as [string, string, number][]) {
      if (!Number.isFinite(vmag)) continue;
      // plot-constellations names a star by its designation and by (the first of) its common names.
      for (const n of [name, common, common.split(' / ')[0] ?? '']) if (n.trim() !== '' && !map.has(n.trim())) map.set(n.trim(), vmag);
    }
    if (map.size === 0) throw new Error('the catalogue gave no magnitudes');
  } catch (err) {
    log(`annotations: no star magnitudes (vmag) from libastrometry's catalogue: ${(err as Error).message}`);
  }
  return map;
}
