/**
 * FITS, read and written in memory, with no dependency on Node: the client, the CLI, the server
 * and the browser share it. Gzip is the caller's business (the bytes given here are plain FITS).
 */
export { FitsError } from './fits-error.js';
export {
  BLOCK,
  CARD,
  FitsHeader,
  formatCard,
  formatReal,
  headerBytes,
  parseHeader,
  type CardInput,
  type FitsCard,
  type FitsValue,
  type NumberFormat,
} from './header.js';
export { dataSizeOf, isFits, isGzip, readHdus, type FitsHdu } from './hdu.js';
export { findImageHdu, readImage, readImageHdu, writeImage, type Bitpix, type FitsImage, type ImageToWrite } from './image.js';
export {
  binTable,
  columnLayouts,
  TYPE_BYTES,
  type ColumnLayout,
  emptyPrimary,
  isBinTable,
  readBinTable,
  readBinTableHdu,
  readXyColumns,
  tableFile,
  writeXyTable,
  type BinTable,
  type Column,
  type ColumnType,
} from './table.js';
export { isWcsKeyword, mergedCards, mergeWcsIntoFits, replaceWcs, wcsCards } from './merge.js';
export { describeHdu, extractHdu, imageHduNumbers, isImageHdu, mergeWcsIntoHdus } from './extensions.js';
