/** The wasm-bindgen "web" build inside @automerge/automerge (aliased in vite.config.ts). */
declare module 'automerge-wasm-web' {
  export default function init(options: {
    module_or_path: string | URL | Request
  }): Promise<unknown>
}
