/**
 * One logger per component: `const log = createLogger('sync')`. Output goes to the console with
 * the component as prefix. The level comes from `ORRERY_LOG` (Node) or `localStorage.orreryLog`
 * (browser): one of debug, info, warn, error, silent. Default: warn (info in the relay).
 *
 * A libp2p service takes its logger from its components instead: `serviceLogger(components.logger,
 * 'sync')` writes the same lines to the console and the sinks, and to libp2p's component logger
 * as `orrery:sync` (shown with libp2p's own: `DEBUG=orrery:*`, or `localStorage.debug`).
 */
import type { ComponentLogger } from '@libp2p/interface'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 }

export interface Logger {
  debug(msg: string, ...args: unknown[]): void
  info(msg: string, ...args: unknown[]): void
  warn(msg: string, ...args: unknown[]): void
  error(msg: string, ...args: unknown[]): void
  readonly component: string
}

export type LogSink = (level: LogLevel, component: string, msg: string, args: unknown[]) => void

let threshold: number = order[detectLevel()]
const sinks = new Set<LogSink>()

function detectLevel(): LogLevel {
  let raw: string | undefined
  try {
    const g = globalThis as { process?: { env?: Record<string, string | undefined> } }
    raw = g.process?.env?.ORRERY_LOG
    if (raw === undefined && typeof localStorage !== 'undefined') {
      raw = localStorage.getItem('orreryLog') ?? undefined
    }
  } catch {
    raw = undefined
  }
  return raw !== undefined && raw in order ? (raw as LogLevel) : 'warn'
}

export function setLogLevel(level: LogLevel): void {
  threshold = order[level]
}

/** Extra receivers of log lines (the UI's error list, tests that assert a stream was logged). */
export function addLogSink(sink: LogSink): () => void {
  sinks.add(sink)
  return () => sinks.delete(sink)
}

type Level = Exclude<LogLevel, 'silent'>

export function createLogger(component: string): Logger {
  return makeLogger(component, undefined)
}

/** A libp2p service's logger: ours (console, sinks, level) and libp2p's `orrery:<component>`. */
export function serviceLogger(logger: ComponentLogger, component: string): Logger {
  const libp2p = logger.forComponent(`orrery:${component}`)
  return makeLogger(component, (level, msg, args) => {
    // '%s': our messages are plain text, never format strings (a '%' in one stays a '%')
    if (level === 'warn' || level === 'error') libp2p.error('%s', msg, ...args)
    else libp2p('%s', msg, ...args)
  })
}

function makeLogger(
  component: string,
  also: ((level: Level, msg: string, args: unknown[]) => void) | undefined,
): Logger {
  const emit = (level: Level, msg: string, args: unknown[]): void => {
    also?.(level, msg, args)
    for (const sink of sinks) sink(level, component, msg, args)
    if (order[level] < threshold) return
    const line = `[orrery:${component}] ${msg}`
    if (level === 'error') console.error(line, ...args)
    else if (level === 'warn') console.warn(line, ...args)
    else console.log(line, ...args)
  }
  return {
    component,
    debug: (msg, ...args) => emit('debug', msg, args),
    info: (msg, ...args) => emit('info', msg, args),
    warn: (msg, ...args) => emit('warn', msg, args),
    error: (msg, ...args) => emit('error', msg, args),
  }
}
