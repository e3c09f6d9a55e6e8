/**
 * Tests that need a real peer check for it first: a missing peer is a failure naming the Debian
 * package to install, never a skipped test.
 */
import { execFileSync } from 'node:child_process';

/** Throws unless every command is on PATH; `tools` maps command -> Debian package. */
export function requirePeers(tools: Record<string, string>): void {
  const missing = Object.entries(tools).filter(([cmd]) => {
    try {
      execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) {
    const pkgs = [...new Set(missing.map(([, pkg]) => pkg))].join(' ');
    throw new Error(`missing ${missing.map(([cmd]) => cmd).join(', ')}: apt-get install -y --no-install-recommends ${pkgs} (or bash scripts/setup.sh)`);
  }
}
