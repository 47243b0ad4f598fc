import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Command } from 'commander'
import { checkPeerIdText, readPolicyFile, readStateFile, writePolicyFile } from '../../membership/authority-files.js'
import { MemberFlag } from '../../membership/constants.js'
import { decodeDocument } from '../../membership/document.js'
import { InvalidAuthorityError } from '../../membership/errors.js'
import { MEMBERSHIP_DOCUMENT_FILE } from '../../membership/service.js'
import { addCommonOptions, configFromOptions, type CommonOptions } from '../options.js'
import type { Output } from '../output.js'

/**
 * `ghostnode authority admit|deny|forget|list`: the operator's side of an
 * authority's admission policy. The lists live in <data-dir>/authority-policy.json;
 * a running authority re-reads the file at its next round, so no restart is needed.
 */
export function authorityCommand (out: Output): Command {
  const cmd = new Command('authority').description('an authority\'s allowlist and denylist, and what it has admitted')
  const edit = (name: string, description: string, change: (lists: { allow: Set<string>, deny: Set<string> }, peer: string) => void): Command => {
    const sub = addCommonOptions(new Command(name).description(description).argument('<peer-id>', 'the relay\'s peer id'))
    sub.action(async (peer: string, opts: CommonOptions) => {
      let id: string
      try {
        id = checkPeerIdText(peer)
      } catch (err) {
        if (!(err instanceof InvalidAuthorityError)) throw err
        sub.error(`ghostnode: ${err.message}`, { exitCode: 2, code: 'ghostnode.invalidPeerId' })
        return
      }
      const { config } = configFromOptions(opts)
      const policy = await readPolicyFile(config.dataDir)
      const lists = { allow: new Set(policy.allow), deny: new Set(policy.deny) }
      change(lists, id)
      await writePolicyFile(config.dataDir, { version: 1, allow: [...lists.allow], deny: [...lists.deny] })
      out.line(`${name}: ${id} (allow ${lists.allow.size}, deny ${lists.deny.size}; a running authority applies it at its next vote)`)
    })
    return sub
  }
  cmd.addCommand(edit('admit', 'admit a relay at once with every flag its record asks for (still only while it is reachable)', (l, id) => { l.deny.delete(id); l.allow.add(id) }))
  cmd.addCommand(edit('deny', 'never admit a relay (dropped at the next vote if it is a member)', (l, id) => { l.allow.delete(id); l.deny.add(id) }))
  cmd.addCommand(edit('forget', 'take a relay off both lists (the admission policy decides again)', (l, id) => { l.allow.delete(id); l.deny.delete(id) }))
  const list = addCommonOptions(new Command('list').description('the lists, what this authority observed, and the membership document in force here').option('--json', 'print JSON'))
  list.action(async (opts: CommonOptions & { json?: boolean }) => {
    const { config } = configFromOptions(opts)
    const [policy, state] = await Promise.all([readPolicyFile(config.dataDir), readStateFile(config.dataDir)])
    let document: { period: number, validUntil: number, members: Array<{ peerId: string, flags: string[] }> } | undefined
    try {
      const doc = decodeDocument(await readFile(join(config.dataDir, MEMBERSHIP_DOCUMENT_FILE)))
      document = { period: doc.period, validUntil: doc.validUntil, members: doc.members.map(m => ({ peerId: m.peerId, flags: flagNames(m.flags) })) }
    } catch {
      // no document persisted yet
    }
    const observed = Object.entries(state.peers).map(([peerId, o]) => ({
      peerId,
      state: o.admittedAt != null ? 'admitted' : 'candidate',
      firstSeen: o.firstSeen ?? null,
      lastReachable: o.lastReachable ?? null,
      reachable: o.reachable
    }))
    if (opts.json === true) {
      out.line(JSON.stringify({ allow: policy.allow, deny: policy.deny, observed, document: document ?? null }))
      return
    }
    out.line(`allow: ${policy.allow.length === 0 ? '(none)' : policy.allow.join(' ')}`)
    out.line(`deny: ${policy.deny.length === 0 ? '(none)' : policy.deny.join(' ')}`)
    for (const o of observed) {
      out.line(`${o.state.padEnd(9)} ${o.peerId} first seen ${time(o.firstSeen)}, last reachable ${time(o.lastReachable)}`)
    }
    if (document == null) {
      out.line('membership document: none in force')
      return
    }
    out.line(`membership document: period ${document.period}, valid until ${new Date(document.validUntil).toISOString()}, ${document.members.length} members`)
    for (const m of document.members) out.line(`  ${m.peerId} ${m.flags.join(',')}`)
  })
  cmd.addCommand(list)
  return cmd
}

function flagNames (flags: number): string[] {
  return Object.entries(MemberFlag).filter(([, bit]) => (flags & bit) !== 0).map(([name]) => name.toLowerCase())
}

function time (ms: number | null): string {
  return ms == null ? 'never' : new Date(ms).toISOString()
}
