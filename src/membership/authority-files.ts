import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { writeSecretFile } from '../secret-file.js'
import { InvalidAuthorityError } from './errors.js'

/**
 * The two files an authority keeps in its data directory:
 * - `authority-policy.json`, the operator's allowlist and denylist, written by
 *   `ghostnode authority admit|deny|forget` and re-read by a running authority
 *   whenever it changes;
 * - `authority-state.json`, what the authority observed (first seen, last
 *   reachable, admitted at, reachable addresses, the candidate's record
 *   summary), so probation and admission survive a restart.
 */

export const AUTHORITY_POLICY_FILE = 'authority-policy.json'
export const AUTHORITY_STATE_FILE = 'authority-state.json'

export interface AuthorityPolicyFile {
  version: 1
  /** Admitted at once with every flag their record asks for (still only while reachable). */
  allow: string[]
  /** Never admitted; dropped at the next vote if they were. */
  deny: string[]
}

export function emptyPolicy (): AuthorityPolicyFile {
  return { version: 1, allow: [], deny: [] }
}

export async function readPolicyFile (dataDir: string): Promise<AuthorityPolicyFile> {
  let text: string
  try {
    text = await readFile(join(dataDir, AUTHORITY_POLICY_FILE), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyPolicy()
    throw err
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new InvalidAuthorityError(`${AUTHORITY_POLICY_FILE} is not JSON: ${(err as Error).message}`)
  }
  const p = parsed as Partial<AuthorityPolicyFile>
  if (p == null || typeof p !== 'object' || p.version !== 1 || !isPeerList(p.allow) || !isPeerList(p.deny)) {
    throw new InvalidAuthorityError(`${AUTHORITY_POLICY_FILE} must be {"version":1,"allow":[peer ids],"deny":[peer ids]}`)
  }
  return { version: 1, allow: [...p.allow], deny: [...p.deny] }
}

function isPeerList (v: unknown): v is string[] {
  return Array.isArray(v) && v.every(x => typeof x === 'string')
}

export async function writePolicyFile (dataDir: string, policy: AuthorityPolicyFile): Promise<void> {
  await writeSecretFile(join(dataDir, AUTHORITY_POLICY_FILE), JSON.stringify(policy, null, 2) + '\n', { replace: true })
}

/** Modification time of the policy file (0 when absent): a running authority re-reads it when this changes. */
export async function policyFileVersion (dataDir: string): Promise<number> {
  try {
    return (await stat(join(dataDir, AUTHORITY_POLICY_FILE))).mtimeMs
  } catch {
    return 0
  }
}

/** Checks an operator-given peer id (exit code 2 material for the CLI). */
export function checkPeerIdText (text: string): string {
  try {
    return peerIdFromString(text).toString()
  } catch {
    throw new InvalidAuthorityError(`not a peer id: ${text}`)
  }
}

/** What the authority remembers of one peer. */
export interface PeerObservation {
  /** First time its addresses were found reachable (probation counts from here). */
  firstSeen?: number
  lastReachable?: number
  lastProbe?: number
  /** Probes in a row that found a candidate unreachable (its retries back off from 5 s to a period). */
  failedProbes?: number
  /** When it was admitted (absent: still a candidate). */
  admittedAt?: number
  /** Its addresses that answered the last full test. */
  reachable: string[]
  /** Hex of the record hash whose addresses were tested. */
  testedHash?: string
  /** Summary of its newest record. */
  record?: { key: string, recordHash: string, capabilities: number, addrs: string[] }
}

export interface AuthorityStateFile {
  version: 1
  peers: Record<string, PeerObservation>
  /** Admission times within the last hour (the hourly admission limit). */
  admissions: number[]
}

export async function readStateFile (dataDir: string): Promise<AuthorityStateFile> {
  try {
    const parsed = JSON.parse(await readFile(join(dataDir, AUTHORITY_STATE_FILE), 'utf8')) as AuthorityStateFile
    if (parsed?.version === 1 && typeof parsed.peers === 'object' && Array.isArray(parsed.admissions)) return parsed
  } catch {
    // missing or unreadable: start fresh (candidates go through probation again)
  }
  return { version: 1, peers: {}, admissions: [] }
}

export async function writeStateFile (dataDir: string, state: AuthorityStateFile): Promise<void> {
  await writeSecretFile(join(dataDir, AUTHORITY_STATE_FILE), JSON.stringify(state), { replace: true })
}
