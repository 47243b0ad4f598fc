// The example messenger: one mailbox key kept in this browser's storage, messages
// sealed to the recipient's key and sent through 3-hop circuits, incoming ones
// delivered live (a signed long poll through a circuit, no polling loop).
import { GhostClient, MailboxKey, formatMailbox, parseMailbox } from './ghostnode.js'

const SEED_KEY = 'ghostnode.example.mailboxSeed'
const $ = (id) => document.getElementById(id)
const hex = (bytes) => Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('')
const unhex = (text) => Uint8Array.from(text.match(/../g) ?? [], h => parseInt(h, 16))

/** Events for whoever drives this page (the browser test and bench read them). */
const events = []
window.ghostnodeExample = { events, client: undefined, key: undefined }

function status (text, error = false) {
  $('status').textContent = text
  $('status').className = error ? 'error' : ''
}

function loadKey () {
  const stored = localStorage.getItem(SEED_KEY)
  if (stored != null && /^[0-9a-f]{64}$/.test(stored)) return MailboxKey.fromSeed(unhex(stored))
  const key = MailboxKey.generate()
  localStorage.setItem(SEED_KEY, hex(key.exportSeed()))
  return key
}

let key = loadKey()
let client
let following

function showKey () {
  $('my-key').textContent = formatMailbox(key.publicKey)
  window.ghostnodeExample.key = key
}

function show (message) {
  const li = document.createElement('li')
  li.dataset.hash = hex(message.hash)
  const meta = document.createElement('div')
  meta.className = 'meta'
  const from = message.sender != null ? `from ${formatMailbox(message.sender).slice(0, 16)}…` : message.kind === 'sealed' ? 'anonymous' : message.kind
  meta.textContent = `${new Date(message.timestamp).toLocaleTimeString()} · ${from}`
  const body = document.createElement('div')
  body.className = 'text'
  body.textContent = message.content != null ? new TextDecoder().decode(message.content) : `(cannot open: ${message.error?.message ?? 'unknown'})`
  li.append(meta, body)
  $('inbox').append(li)
}

async function follow () {
  following?.abort()
  const stop = new AbortController()
  following = stop
  try {
    for await (const message of client.subscribe(key, { signal: stop.signal, onRetry: (err) => { status(`reconnecting: ${err.message}`) } })) {
      events.push({ type: 'received', at: performance.timeOrigin + performance.now(), hash: hex(message.hash), text: message.content != null ? new TextDecoder().decode(message.content) : null, kind: message.kind, sender: message.sender != null ? formatMailbox(message.sender) : null })
      show(message)
      status('connected')
    }
  } catch (err) {
    status(`subscription ended: ${err.message}`, true)
  }
}

async function connect () {
  const bootstrap = $('bootstrap').value.split(/[\s,]+/).filter(Boolean)
  if (bootstrap.length === 0) return status('enter a relay address to start from', true)
  $('connect').disabled = true
  status('connecting: fetching the membership document and the directory…')
  try {
    await client?.stop()
    const started = performance.now()
    client = await GhostClient.create({ bootstrap })
    window.ghostnodeExample.client = client
    const directoryMs = performance.now() - started
    const building = performance.now()
    await client.circuit()
    const buildMs = performance.now() - building
    events.push({ type: 'connected', directoryMs, buildMs, relays: client.records().length })
    status('connected')
    $('send').disabled = false
    void follow()
  } catch (err) {
    status(`cannot connect: ${err.message}`, true)
  } finally {
    $('connect').disabled = false
  }
}

async function send () {
  let to
  try {
    to = parseMailbox($('to').value)
  } catch (err) {
    return status(err.message, true)
  }
  const text = $('text').value
  if (text === '') return
  $('send').disabled = true
  const sentAt = performance.timeOrigin + performance.now()
  try {
    const receipt = await client.store(to, new TextEncoder().encode(text), $('sign').checked ? { from: key } : {})
    events.push({ type: 'sent', at: sentAt, ackAt: performance.timeOrigin + performance.now(), text, hash: hex(receipt.hash) })
    $('text').value = ''
    status('sent')
  } catch (err) {
    events.push({ type: 'send-failed', text, error: err.message })
    status(`not sent: ${err.message}`, true)
  } finally {
    $('send').disabled = false
  }
}

$('connect').addEventListener('click', () => { void connect() })
$('send').addEventListener('click', () => { void send() })
$('new-key').addEventListener('click', () => {
  localStorage.removeItem(SEED_KEY)
  key = loadKey()
  showKey()
  $('inbox').replaceChildren()
  if (client != null) void follow()
})

showKey()
const params = new URLSearchParams(location.search)
const configured = params.get('bootstrap') ?? (await fetch('./config.json').then(r => r.ok ? r.json() : {}, () => ({}))).bootstrap?.join(' ')
if (configured) {
  $('bootstrap').value = configured
  void connect()
} else {
  status('enter a relay address to start from')
}
