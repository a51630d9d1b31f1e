/**
 * Typed shapes of what the nova API answers, after decoding.
 *
 * Raw wire quirks (the string "None" for unset timestamps, `null` job ids, three different
 * error keys) are resolved by the codecs in `src/protocol/`; these types describe the result.
 */

/** Status of one job, as `/api/jobs/<id>` reports it. `"?"` is unreachable in practice but legal. */
export type JobStatus = 'processing' | 'solving' | 'success' | 'failure' | '?';

/** Where the field points, from `/api/jobs/<id>/calibration`. */
export interface Calibration {
  /** Right ascension of the field centre, degrees. */
  ra: number;
  /** Declination of the field centre, degrees. */
  dec: number;
  /** Half the field diagonal, degrees. */
  radius: number;
  /** Pixel scale, arcseconds per pixel. */
  pixscale: number;
  /** Up is this many degrees east of north. Flipped by the server for JPEG/PNG/GIF inputs. */
  orientation: number;
  /** `1` when det(CD) >= 0, else `-1` (a float on the wire). */
  parity: 1 | -1;
  /** Field width, arcseconds (absent on servers older than 2018-04 and in `info`). */
  width_arcsec?: number;
  /** Field height, arcseconds. */
  height_arcsec?: number;
}

/** A submission as `/api/submissions/<subid>` reports it. */
export interface SubmissionStatus {
  /** Id of the submitting user. */
  user: number;
  /** When a worker took the submission, ISO 8601 UTC; `null` when the server said `"None"`. */
  processing_started: string | null;
  /** When file ingestion ended (not solving), ISO 8601 UTC; `null` when unset. */
  processing_finished: string | null;
  /** UserImage ids, one per ingested image. */
  user_images: number[];
  /** Image ids, for `/image/<id>`. */
  images: number[];
  /** The best job per user image, aligned with `user_images`; `null` while waiting for a solver. */
  jobs: (number | null)[];
  /** `[jobId, calibrationId]` for every solved job. */
  job_calibrations: [number, number][];
  /** Set when ingestion failed: terminal, no job will appear. */
  error_message?: string;
}

/** `/api/jobs/<id>/info`. */
export interface JobInfo {
  status: JobStatus;
  original_filename: string;
  objects_in_field: string[];
  machine_tags: string[];
  tags: string[];
  /** Present only when solved; carries no width/height. */
  calibration?: Calibration;
}

/** One entry of `/api/jobs/<id>/annotations`. */
export interface Annotation {
  type: 'ngc' | 'ic' | 'hd' | 'bright' | 'abell' | 'tycho2' | 'HIP' | 'uzc' | (string & {});
  names: string[];
  pixelx: number;
  pixely: number;
  /** Pixels; `0` for point objects. */
  radius: number;
  /** Only for `type: "bright"`. */
  vmag?: number;
}

/** Answer of `/api/login`. The session key itself is kept out of this object on purpose. */
export interface LoginResult {
  /** The server's message, e.g. `authenticated user: someone@example.org`. */
  message: string;
}

/** Answer of `/api/upload` and `/api/url_upload`. */
export interface UploadResult {
  subid: number;
  /** SHA-1 of the stored bytes; absent for URL uploads. */
  hash?: string;
}
