/** How a failed HTTP exchange is reported: its `errorType` and whether another attempt may help. */
export interface HttpFailureClass {
  errorType: string;
  retryable: boolean;
}

const BY_STATUS: Readonly<Record<number, HttpFailureClass>> = {
  400: { errorType: 'bad_request', retryable: false },
  401: { errorType: 'unauthorized', retryable: false },
  403: { errorType: 'forbidden', retryable: false },
  404: { errorType: 'not_found', retryable: false },
  405: { errorType: 'method_not_allowed', retryable: false },
  408: { errorType: 'request_timeout', retryable: true },
  409: { errorType: 'conflict', retryable: false },
  410: { errorType: 'gone', retryable: false },
  422: { errorType: 'unprocessable_entity', retryable: false },
  429: { errorType: 'rate_limited', retryable: true },
  500: { errorType: 'internal_server_error', retryable: true },
  502: { errorType: 'bad_gateway', retryable: true },
  503: { errorType: 'service_unavailable', retryable: true },
  504: { errorType: 'gateway_timeout', retryable: true },
};

/**
 * Classify an HTTP status: `null` for 2xx (success); 408, 429 and every 5xx are retryable; every
 * other 4xx is permanent; anything else (an unfollowed 3xx, a 1xx) is a permanent `http_error`.
 */
export function classifyStatus(status: number): HttpFailureClass | null {
  if (status >= 200 && status < 300) return null;
  const known = BY_STATUS[status];
  if (known !== undefined) return known;
  if (status >= 400 && status < 500) return { errorType: 'client_error', retryable: false };
  if (status >= 500 && status < 600) return { errorType: 'server_error', retryable: true };
  return { errorType: 'http_error', retryable: false };
}

/** Node/axios error codes of a request that never got a response. */
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ECONNABORTED', 'ESOCKETTIMEDOUT']);
const CANCEL_CODES = new Set(['ERR_CANCELED']);
const INVALID_REQUEST_CODES = new Set([
  'ERR_INVALID_URL',
  'ERR_BAD_OPTION',
  'ERR_BAD_OPTION_VALUE',
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_INVALID_CHAR',
  'ERR_UNESCAPED_CHARACTERS',
  'ERR_NOT_SUPPORT',
]);
/** TLS verification failures: retrying does not fix a certificate. */
const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

/**
 * Classify a request that failed without a response, by its error `code`: timeouts → retryable
 * `timeout`; a cancelled request → retryable `aborted`; certificate verification failures →
 * permanent `tls_error`; a malformed request → permanent `invalid_request`; anything else
 * (connection refused or reset, DNS failure, unreachable network…) → retryable `connection_error`.
 */
export function classifyRequestError(code: string | undefined): HttpFailureClass {
  if (code !== undefined) {
    if (TIMEOUT_CODES.has(code)) return { errorType: 'timeout', retryable: true };
    if (CANCEL_CODES.has(code)) return { errorType: 'aborted', retryable: true };
    if (TLS_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_')) {
      return { errorType: 'tls_error', retryable: false };
    }
    if (INVALID_REQUEST_CODES.has(code)) return { errorType: 'invalid_request', retryable: false };
  }
  return { errorType: 'connection_error', retryable: true };
}
