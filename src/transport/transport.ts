/**
 * The seam between the machines and the network.
 *
 * A transport moves one HTTP exchange and knows nothing of nova. Bodies are described, not
 * encoded, so each transport can encode them the way its platform streams best: undici with
 * `form-data` and an exact Content-Length in Node, `fetch` with `FormData` in a browser.
 */

/** Where an uploaded file's bytes come from. */
export type UploadSource =
  /** A path on disk, streamed with its exact size (Node only). */
  | { readonly kind: 'path'; readonly path: string }
  /** Bytes in memory. */
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  /** A Blob or File (browser, or Node's `fs.openAsBlob`). */
  | { readonly kind: 'blob'; readonly blob: Blob };

export type RequestBody =
  /** `application/x-www-form-urlencoded` form fields. */
  | { readonly kind: 'form'; readonly fields: Readonly<Record<string, string>> }
  /** `multipart/form-data`: plain fields plus one file part. */
  | {
      readonly kind: 'multipart';
      readonly fields: Readonly<Record<string, string>>;
      readonly file: { readonly field: string; readonly filename: string; readonly source: UploadSource };
    };

export interface TransportRequest {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: RequestBody;
  /** Aborted when the state that made the request is left. */
  readonly signal?: AbortSignal;
  /** Milliseconds the whole exchange may take, body included; then it fails with a NetworkError. */
  readonly timeoutMs?: number;
  /**
   * Milliseconds without a byte moving either way (sent or received) before the exchange fails
   * with a NetworkError. An answer the server holds on purpose (a long poll) needs more.
   */
  readonly stallTimeoutMs?: number;
  /** A larger answer is refused with ResponseTooLargeError instead of being buffered. */
  readonly maxResponseBytes?: number;
  /** Reports bytes of the request body sent so far, when the platform can tell. */
  readonly onUploadProgress?: (sentBytes: number, totalBytes: number | undefined) => void;
}

export interface TransportResponse {
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

export interface Transport {
  request(request: TransportRequest): Promise<TransportResponse>;
}
