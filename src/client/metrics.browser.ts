/**
 * The browser's ClientMetrics (the package's `browser` field puts it in place of
 * metrics.ts): the same calls, kept as plain numbers a page can read, since a
 * browser has no Prometheus to scrape and prom-client does not run there.
 */
export class ClientMetrics {
  /** Circuit builds by outcome: count and total seconds. */
  readonly buildStats = { ok: { count: 0, seconds: 0 }, failed: { count: 0, seconds: 0 } }
  hopFailureCount = 0

  readonly builds = {
    observe: (labels: { outcome: 'ok' | 'failed' }, seconds: number): void => {
      const stat = this.buildStats[labels.outcome]
      stat.count++
      stat.seconds += seconds
    }
  }

  readonly hopFailures = {
    inc: (): void => { this.hopFailureCount++ }
  }

  constructor (_registry?: unknown) {}
}
