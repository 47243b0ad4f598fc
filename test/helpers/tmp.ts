import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A fresh temporary directory; remove it with removeTempDir in afterEach. */
export async function makeTempDir (prefix = 'ghostnode-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix))
}

export async function removeTempDir (dir: string | undefined): Promise<void> {
  if (dir != null) await rm(dir, { recursive: true, force: true })
}
