import { existsSync } from 'node:fs'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'

/** Where Debian's `chromium` package puts the browser (CHROMIUM_PATH overrides). */
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']

/** The Chromium binary to drive, or undefined when none is installed. */
export function findChromium (): string | undefined {
  const configured = process.env.CHROMIUM_PATH
  if (configured != null && configured !== '') return existsSync(configured) ? configured : undefined
  return CANDIDATES.find(p => existsSync(p))
}

export const CHROMIUM_MISSING = 'no Chromium found: install Debian\'s "chromium" package (apt-get install chromium) or set CHROMIUM_PATH'

/** Headless Chromium through puppeteer-core (its own browser download is not used). */
export async function launchChromium (executablePath: string): Promise<Browser> {
  return puppeteer.launch({
    executablePath,
    headless: true,
    // root in a container: Chromium's sandbox needs user namespaces it may not have
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run']
  })
}

/** One example-page user in its own browser context (its own localStorage, so its own mailbox key). */
export interface PageUser {
  page: Page
  key: string
  errors: string[]
}

export async function openUser (browser: Browser, url: string, timeoutMs = 60_000): Promise<PageUser> {
  const context = await browser.createBrowserContext()
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => { errors.push(String(err)) })
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()) })
  await page.goto(url, { waitUntil: 'load' })
  await page.waitForFunction(() => (globalThis as any).ghostnodeExample?.events.some((e: { type: string }) => e.type === 'connected'), { timeout: timeoutMs, polling: 50 })
  const key = await page.$eval('#my-key', el => el.textContent ?? '')
  return { page, key, errors }
}

/** Types a message to `to` into the page's form and sends it; resolves once the swarm acknowledged it. */
export async function sendFromPage (user: PageUser, to: string, text: string, timeoutMs = 30_000): Promise<void> {
  const { page } = user
  await page.$eval('#to', (el, v) => { (el as unknown as { value: string }).value = v }, to)
  await page.$eval('#text', (el, v) => { (el as unknown as { value: string }).value = v }, text)
  await page.waitForFunction(() => (globalThis as any).document.getElementById('send').disabled !== true, { timeout: timeoutMs, polling: 20 })
  await page.click('#send')
  await page.waitForFunction((t) => (globalThis as any).ghostnodeExample.events.some((e: { type: string, text: string }) => (e.type === 'sent' || e.type === 'send-failed') && e.text === t),
    { timeout: timeoutMs, polling: 20 }, text)
  const failed = await page.evaluate((t) => (globalThis as any).ghostnodeExample.events.find((e: { type: string, text: string }) => e.type === 'send-failed' && e.text === t), text)
  if (failed != null) throw new Error(`the page could not send "${text}": ${(failed as { error: string }).error}`)
}

/** The texts a page shows in its inbox, in order. */
export async function inboxOf (user: PageUser): Promise<string[]> {
  return user.page.$$eval('#inbox li .text', els => els.map(el => el.textContent ?? ''))
}
