/**
 * The boot's progress as `window.orrery.boot` shows it (and its `boot` event announces): the step
 * running, how far along the boot is, and the error it stopped on, if any.
 */
import { describeError } from '../../core/errors'
import type { BootProgress } from './types'

export class BootProgressTracker {
  current: BootProgress = { step: 'loading', done: 0, total: 1 }

  constructor(private readonly changed: (p: BootProgress) => void) {}

  report(step: string, done: number, total: number): void {
    this.current = { step, done, total }
    this.changed(this.current)
  }

  /** the boot failed: the progress keeps its step and says why */
  fail(e: unknown): void {
    this.current = { ...this.current, error: describeError(e) }
    this.changed(this.current)
  }
}
