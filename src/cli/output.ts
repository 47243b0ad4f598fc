/** Where commands print, so tests can capture it. */
export interface Output {
  line: (text: string) => void
  error: (text: string) => void
}

export const consoleOutput: Output = {
  line: (text) => { process.stdout.write(text + '\n') },
  error: (text) => { process.stderr.write(text + '\n') }
}
