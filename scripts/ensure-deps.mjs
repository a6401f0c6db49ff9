// Installs the npm packages when they are missing or older than package-lock.json.
// Plain Node, no dependencies: it runs before anything is installed (`npm start`, `npm test`).
import { execSync } from 'node:child_process'
import fs from 'node:fs'

const stamp = 'node_modules/.package-lock.json'
const stale =
  !fs.existsSync(stamp) || fs.statSync('package-lock.json').mtimeMs > fs.statSync(stamp).mtimeMs
if (stale) {
  console.log('installing npm packages (npm ci)…')
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' })
}
