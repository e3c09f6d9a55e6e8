import { MemoryBackend } from './memory.ts';
import { backendCompliance } from './compliance.ts';

// Each owner has its own rule space; one instance per owner, shared within a test like a real firewall.
const byOwner = new Map<string, MemoryBackend>();
backendCompliance('memory backend', async (owner) => {
  let b = byOwner.get(owner);
  if (!b) byOwner.set(owner, (b = new MemoryBackend(owner)));
  return b;
});
