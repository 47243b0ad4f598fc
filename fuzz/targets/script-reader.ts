/**
 * Reads the arguments of a scripted input's operations (the stateful targets'
 * inputs are scripts); past the input's end every read is 0, so any byte
 * string is a valid script.
 */
export class ScriptReader {
  private readonly bytes: Uint8Array
  private at = 0
  constructor (bytes: Uint8Array) { this.bytes = bytes }
  get done (): boolean { return this.at >= this.bytes.length }
  u8 (): number { return this.at < this.bytes.length ? this.bytes[this.at++] : 0 }
  u16 (): number { return (this.u8() << 8) | this.u8() }
  take (n: number): Uint8Array {
    const out = this.bytes.slice(this.at, this.at + n)
    this.at += out.length
    return out
  }
}
