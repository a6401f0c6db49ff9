/** A small typed event emitter (EventTarget's typing is clumsy for custom payloads). */
export class Emitter<Events extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof Events, Set<(payload: never) => void>>()

  on<K extends keyof Events>(event: K, fn: (payload: Events[K]) => void): () => void {
    let set = this.listeners.get(event)
    if (set === undefined) {
      set = new Set()
      this.listeners.set(event, set)
    }
    set.add(fn as (payload: never) => void)
    return () => set.delete(fn as (payload: never) => void)
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.listeners.get(event)
    if (set === undefined) return
    for (const fn of [...set]) {
      try {
        ;(fn as (p: Events[K]) => void)(payload)
      } catch (e) {
        console.error(`listener of ${String(event)} threw`, e)
      }
    }
  }
}
