import { Reader as BytesReader } from '../wire/bytes.js'
import { SwarmProtocolError } from './service-errors.js'

export { Writer } from '../wire/bytes.js'

/** The swarm codecs' reader: running past the end or a bad field is a SwarmProtocolError. */
export class Reader extends BytesReader {
  constructor (bytes: Uint8Array) {
    super(bytes, (message) => new SwarmProtocolError(message))
  }
}
