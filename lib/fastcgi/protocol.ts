/**
 * FastCGI 1.0 constants (the FastCGI Specification, Open Market, 1996, sections 3 and 8), named
 * as the specification names them, without the FCGI_ prefix.
 */

/** `version` of every record (spec 3.3). */
export const VERSION_1 = 1;

/** Bytes of a record header (spec 3.3). */
export const HEADER_LEN = 8;

/** Largest `contentLength` of one record: the field is 16 bits (spec 3.3). */
export const MAX_CONTENT_LENGTH = 65535;

/** Record types (spec 8). */
export const RecordType = {
  BEGIN_REQUEST: 1,
  ABORT_REQUEST: 2,
  END_REQUEST: 3,
  PARAMS: 4,
  STDIN: 5,
  STDOUT: 6,
  STDERR: 7,
  DATA: 8,
  GET_VALUES: 9,
  GET_VALUES_RESULT: 10,
  UNKNOWN_TYPE: 11,
} as const;

/** A record type's number. */
export type RecordTypeNumber = (typeof RecordType)[keyof typeof RecordType];

/** The RESPONDER role of BEGIN_REQUEST (spec 5.1): the only one php-fpm serves. */
export const ROLE_RESPONDER = 1;

/** BEGIN_REQUEST flag (spec 5.1): the application keeps the connection open after the request. */
export const FLAG_KEEP_CONN = 1;

/** END_REQUEST `protocolStatus` values (spec 5.5). */
export const ProtocolStatus = {
  REQUEST_COMPLETE: 0,
  CANT_MPX_CONN: 1,
  OVERLOADED: 2,
  UNKNOWN_ROLE: 3,
} as const;

/** What a protocolStatus means, for messages. */
export function protocolStatusText(status: number): string {
  switch (status) {
    case ProtocolStatus.REQUEST_COMPLETE:
      return 'request complete';
    case ProtocolStatus.CANT_MPX_CONN:
      return 'cannot multiplex connections';
    case ProtocolStatus.OVERLOADED:
      return 'overloaded';
    case ProtocolStatus.UNKNOWN_ROLE:
      return 'unknown role';
    default:
      return `protocol status ${status}`;
  }
}
