import { TestnetAbortedError, TestnetTimeoutError } from './errors.js'

const POLL_INTERVAL_MS = 100
const REQUEST_TIMEOUT_MS = 2_000
export const DEFAULT_READY_TIMEOUT_MS = 30_000

export interface WaitOptions {
  /** @default 30000 */
  timeoutMs?: number
  signal?: AbortSignal
  /** Checked on every round; throwing ends the wait (e.g. "the node process exited"). */
  failFast?: () => Promise<void> | void
}

/**
 * Polls `check` until it returns a value other than undefined, or the deadline
 * passes. `check` returns a description of what it saw in `state` so a timeout
 * names the last state, not just "timed out".
 */
export async function waitUntil<T> (what: string, check: (state: { last: string }) => Promise<T | undefined>, options: WaitOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS
  const deadline = Date.now() + timeoutMs
  const state = { last: 'not checked yet' }
  for (;;) {
    if (options.signal?.aborted === true) throw new TestnetAbortedError()
    await options.failFast?.()
    const value = await check(state)
    if (value !== undefined) return value
    if (Date.now() >= deadline) throw new TestnetTimeoutError(what, timeoutMs, state.last)
    await pause(Math.min(POLL_INTERVAL_MS, Math.max(0, deadline - Date.now())), options.signal)
  }
}

async function pause (ms: number, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms)
    function done (): void {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}

/** GET with a short per-request timeout; a connection error is reported as status 0, not thrown. */
export async function getJson (url: string): Promise<{ status: number, body?: any, error?: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
    const text = await res.text()
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      body = text
    }
    return { status: res.status, body }
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause
    return { status: 0, error: cause?.message ?? (err as Error).message }
  }
}

/** Resolves once the node's /health/ready answers 200. */
export async function waitForReady (httpUrl: string, options: WaitOptions = {}): Promise<void> {
  await waitUntil(`${httpUrl}/health/ready to answer 200`, async (state) => {
    const res = await getJson(`${httpUrl}/health/ready`)
    state.last = res.error ?? `HTTP ${res.status}`
    return res.status === 200 ? true : undefined
  }, options)
}

/** The distinct peer ids of the node's open connections (from its /peers endpoint). */
export async function connectedPeerIds (httpUrl: string): Promise<Set<string>> {
  const res = await getJson(`${httpUrl}/peers`)
  if (res.status !== 200 || !Array.isArray(res.body?.peers)) return new Set()
  return new Set((res.body.peers as Array<{ peerId: string }>).map(p => p.peerId))
}

/** Resolves once the node's /peers lists a connection to every peer id in `expected`. */
export async function waitForPeers (httpUrl: string, expected: string[], options: WaitOptions = {}): Promise<void> {
  await waitUntil(`${httpUrl} to be connected to ${expected.length} peer(s)`, async (state) => {
    const seen = await connectedPeerIds(httpUrl)
    const missing = expected.filter(id => !seen.has(id))
    state.last = missing.length === 0 ? 'all connected' : `missing ${missing.join(', ')}`
    return missing.length === 0 ? true : undefined
  }, options)
}

/** Resolves once the node's membership document in force admits at least `count` members with their records held. */
export async function waitForMembers (httpUrl: string, count: number, options: WaitOptions = {}): Promise<void> {
  await waitUntil(`${httpUrl} to admit ${count} members`, async (state) => {
    const health = await getJson(`${httpUrl}/health`)
    const members = Number(health.body?.membership?.members ?? 0)
    const records = Number(health.body?.directoryRecords ?? 0)
    state.last = `${members} members, ${records} records`
    return members >= count && records >= count ? true : undefined
  }, options)
}

/** Resolves once every node's swarm ring holds exactly `count` members (from each node's /health). */
export async function waitForSwarmRings (httpUrls: string[], count: number, options: WaitOptions = {}): Promise<void> {
  await waitUntil(`every swarm ring to hold ${count} members`, async (state) => {
    const members = await Promise.all(httpUrls.map(async url => (await getJson(`${url}/health`)).body?.swarmMembers))
    state.last = `swarm members ${members.join(', ')}`
    return members.every(m => m === count) ? true : undefined
  }, options)
}
