/** The FastCGI client's own error: what an application sent is not FastCGI as the spec has it. */
import { TqError } from '../errors.js';

/** A malformed record, name-value pair or CGI response; the exchange answers it with a 502. */
export class FastCgiProtocolError extends TqError {
  declare readonly code: 'ERR_FASTCGI_PROTOCOL';

  constructor(message: string) {
    super('ERR_FASTCGI_PROTOCOL', message);
  }
}
