/**
 * Registers a lit element, and lets a newer version of its code replace it in place: custom
 * elements cannot be defined twice, so when a module runs again (Vite hot replacement in
 * development, or a followed app's new version being swapped in) the already-registered class
 * gets the new code (prototype, static styles) and its live instances re-render, keeping their
 * state (measured: ~90 ms per update instead of a ~250 ms full reload that loses it).
 *
 * What cannot be patched in place asks for a full reload and says why: a changed set of reactive
 * properties (lit builds their accessors and observed attributes once, at definition). A
 * constructor's new field defaults apply to elements created after a reload only.
 *
 * The registry of live instances is global (a symbol on globalThis), because the shell and each
 * app bundle carry their own copy of this module.
 */
import type { LitElement, ReactiveController } from 'lit'
import { reloadBecause } from '../dev'
import { registry } from '../element-registry'

export { takeReloadReasons } from '../element-registry'

type ElementClass = typeof LitElement & CustomElementConstructor

export function defineElement(name: string, cls: ElementClass): void {
  const existing = customElements.get(name) as ElementClass | undefined
  if (existing === undefined) {
    // track first: defining upgrades elements already in the page (and connects them) at once
    track(name, cls)
    customElements.define(name, cls)
    return
  }
  if (existing === cls) return
  const unpatchable = whyNotInPlace(existing, cls)
  if (unpatchable !== undefined) {
    requestReload(`<${name}>: ${unpatchable}`)
    return
  }
  patch(name, existing, cls)
}

export function replacedElements(): readonly { name: string; at: number }[] {
  return registry.replaced
}

/** What lit fixes at definition: each reactive property, its attribute, type and reflection. */
function propertySignature(cls: ElementClass): string {
  const props =
    (cls as unknown as { properties?: Record<string, Record<string, unknown>> }).properties ?? {}
  return JSON.stringify(
    Object.keys(props)
      .sort()
      .map((k) => {
        const o = props[k] ?? {}
        // lit itself turns `state: true` into `attribute: false` on the options it is given
        const attribute = o.state === true ? false : (o.attribute ?? true)
        const type = typeof o.type === 'function' ? o.type.name : ''
        return [k, JSON.stringify(attribute), type, o.reflect === true]
      }),
  )
}

function whyNotInPlace(existing: ElementClass, cls: ElementClass): string | undefined {
  if (propertySignature(existing) !== propertySignature(cls))
    return 'its reactive properties changed, which needs a reload'
  return undefined
}

function requestReload(reason: string): void {
  registry.reloadReasons.push(reason)
  // development: reload now and tell the developer why (the shell shows it after the reload)
  if (import.meta.hot) reloadBecause(reason)
  // otherwise (a followed app's new version) the shell decides: see takeReloadReasons
}

function patch(name: string, existing: ElementClass, cls: ElementClass): void {
  for (const key of Object.getOwnPropertyNames(cls.prototype)) {
    if (key === 'constructor') continue
    Object.defineProperty(
      existing.prototype,
      key,
      Object.getOwnPropertyDescriptor(cls.prototype, key)!,
    )
  }
  const styles = (cls as unknown as { styles?: unknown }).styles
  const target = existing as unknown as {
    elementStyles: unknown
    finalizeStyles(s: unknown): unknown[]
  }
  target.elementStyles = target.finalizeStyles(styles)
  for (const el of registry.live.get(name) ?? []) {
    const root = el.renderRoot
    if (root instanceof ShadowRoot) {
      root.adoptedStyleSheets = (target.elementStyles as { styleSheet?: CSSStyleSheet }[])
        .map((s) => s.styleSheet)
        .filter((s): s is CSSStyleSheet => s !== undefined)
    }
    el.requestUpdate()
  }
  registry.replaced.push({ name, at: performance.now() })
}

/**
 * Live instances are tracked through a controller added at construction: unlike wrapping
 * connectedCallback, it survives a patch that replaces the element's own lifecycle methods.
 */
function track(name: string, cls: ElementClass): void {
  const set = new Set<LitElement>()
  registry.live.set(name, set)
  cls.addInitializer((el) => {
    const host = el as LitElement
    const controller: ReactiveController = {
      hostConnected: () => set.add(host),
      hostDisconnected: () => set.delete(host),
    }
    host.addController(controller)
  })
}
