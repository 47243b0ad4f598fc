import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'

/**
 * Last-resort cleanup. The launcher stops its nodes and removes its network
 * namespaces in an orderly way on stop() and on errors; this registry covers the
 * case where the launcher's own process ends without getting there (an uncaught
 * exception, process.exit() from a test runner). A process 'exit' handler may
 * only do synchronous work, so it SIGKILLs the tracked pids and deletes the
 * tracked namespaces and links with execFileSync, and removes the temp data
 * dirs it would have removed on stop().
 *
 * Nothing can run when the launcher itself is SIGKILLed: nodes write a pid file
 * in their data dir for that case (see docs/operators.md).
 */
const livePids = new Set<number>()
const liveNamespaces = new Set<string>()
const liveLinks = new Set<string>()
const liveDirs = new Set<string>()
let installed = false

function emergencyCleanup (): void {
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  livePids.clear()
  for (const ns of liveNamespaces) runQuietly(['netns', 'del', ns])
  liveNamespaces.clear()
  // veth outer ends and bridges: a namespace still referenced by a killed node's sockets would keep them
  for (const link of liveLinks) runQuietly(['link', 'del', link])
  liveLinks.clear()
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true })
  liveDirs.clear()
}

function runQuietly (args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: 'ignore', timeout: 5_000 })
  } catch {
    // best effort: the orderly path reports errors, this one only sweeps
  }
}

function ensureInstalled (): void {
  if (installed) return
  installed = true
  process.on('exit', emergencyCleanup)
}

export function trackPid (pid: number): void {
  ensureInstalled()
  livePids.add(pid)
}

export function untrackPid (pid: number): void {
  livePids.delete(pid)
}

export function trackNamespace (name: string): void {
  ensureInstalled()
  liveNamespaces.add(name)
}

export function untrackNamespace (name: string): void {
  liveNamespaces.delete(name)
}

export function trackLink (name: string): void {
  ensureInstalled()
  liveLinks.add(name)
}

export function untrackLink (name: string): void {
  liveLinks.delete(name)
}

/** A temp data dir the launcher made and would remove on stop(). */
export function trackDir (path: string): void {
  ensureInstalled()
  liveDirs.add(path)
}

export function untrackDir (path: string): void {
  liveDirs.delete(path)
}

/** Pids the registry still holds: tests assert this is empty after stop(). */
export function trackedPids (): number[] {
  return [...livePids]
}
