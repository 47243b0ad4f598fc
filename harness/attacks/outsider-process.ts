import { fileURLToPath } from 'node:url'
import { spawnNode, stopChild, waitForLine } from '../lib/children.js'

/** The compiled outsider script (this file runs from dist/harness/attacks/). */
export const OUTSIDER_SCRIPT = fileURLToPath(new URL('./outsider.js', import.meta.url))

/**
 * Runs the outsider (outsider.ts) as its own Node process with `args` and
 * resolves with its final JSON line.
 */
export async function runOutsider (args: string[], timeoutMs = 60_000): Promise<Record<string, any>> {
  const child = await spawnNode('outsider', OUTSIDER_SCRIPT, args)
  try {
    const [line] = await waitForLine(child, /^\{.*"final":true.*\}$/, timeoutMs)
    return JSON.parse(line)
  } finally {
    await stopChild(child)
  }
}

/** The compiled rogue-member script (member.ts). */
export const MEMBER_SCRIPT = fileURLToPath(new URL('./member.js', import.meta.url))

/** Runs the rogue member (member.ts) as its own Node process with `args`; resolves with its final JSON line. */
export async function runMember (args: string[], timeoutMs = 60_000): Promise<Record<string, any>> {
  const child = await spawnNode('member', MEMBER_SCRIPT, args)
  try {
    const [line] = await waitForLine(child, /^\{.*"final":true.*\}$/, timeoutMs)
    return JSON.parse(line)
  } finally {
    await stopChild(child)
  }
}
