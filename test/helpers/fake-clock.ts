/** A manual clock: tests move time forward explicitly instead of sleeping. */
export class FakeClock {
  private t: number

  constructor (start = 1_700_000_000_000) {
    this.t = start
  }

  readonly now = (): number => this.t

  advance (ms: number): void {
    this.t += ms
  }

  set (ms: number): void {
    this.t = ms
  }
}
