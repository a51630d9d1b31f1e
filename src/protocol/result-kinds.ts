/**
 * The results a solved job offers, by the names users ask for them with.
 *
 * JSON results come from `/api/jobs/<id>/...`; files from the site's download URLs. Each file
 * kind knows the content types a real file can have, so an HTML error page served with HTTP
 * 200 (nova does this for `new_fits_file` and the plots) is never mistaken for the file.
 */

export type JsonResultKind = 'calibration' | 'info' | 'tags' | 'machineTags' | 'objectsInField' | 'annotations';

export type FileResultKind =
  | 'wcs'
  | 'newFits'
  | 'rdls'
  | 'axy'
  | 'corr'
  | 'imageRd'
  | 'annotatedDisplay'
  | 'annotatedFull'
  | 'redGreenDisplay'
  | 'redGreenFull'
  | 'extractionDisplay'
  | 'extractionFull'
  | 'joblog';

export type ResultKind = JsonResultKind | FileResultKind;

const JSON_RESULTS: readonly JsonResultKind[] = ['calibration', 'info', 'tags', 'machineTags', 'objectsInField', 'annotations'];

/** Every file kind, by name. Where each is downloaded from, and what it must be, is in result-files.ts. */
export const FILE_RESULT_KINDS: readonly FileResultKind[] = [
  'wcs',
  'newFits',
  'rdls',
  'axy',
  'corr',
  'imageRd',
  'annotatedDisplay',
  'annotatedFull',
  'redGreenDisplay',
  'redGreenFull',
  'extractionDisplay',
  'extractionFull',
  'joblog',
];

export const RESULT_KINDS: readonly ResultKind[] = [...JSON_RESULTS, ...FILE_RESULT_KINDS];

export function isFileResultKind(kind: string): kind is FileResultKind {
  return (FILE_RESULT_KINDS as readonly string[]).includes(kind);
}

export function isResultKind(kind: string): kind is ResultKind {
  return (RESULT_KINDS as readonly string[]).includes(kind);
}

/** A downloaded result file. */
export interface ResultFile {
  readonly kind: FileResultKind;
  readonly filename: string;
  readonly contentType: string;
  readonly bytes: Uint8Array;
}
