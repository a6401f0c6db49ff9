/** `npm start` / `npm run dev`: the relay serving the app on http://localhost:8080 by default. */
import { setLogLevel, type LogLevel } from '../src/core/log'
import { readConfig } from './config'
import { startRelay } from './server'

setLogLevel((process.env.ORRERY_LOG as LogLevel | undefined) ?? 'info')

async function main(): Promise<void> {
  const config = readConfig()
  const relay = await startRelay(config)
  console.log(`Orrery relay ${relay.peerId}`)
  console.log(
    `serving ${config.dev ? 'the app through Vite (hot reload)' : config.distDir} and the relay on ${relay.url}`,
  )
  let signals = 0
  const shutdown = (signal: string): void => {
    if (++signals > 1) process.exit(1)
    console.log(`${signal}: shutting down`)
    relay.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        console.error('shutdown failed', e)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
}

main().catch((e: unknown) => {
  console.error(`the relay could not start: ${e instanceof Error ? e.message : String(e)}`)
  process.exit(1)
})
