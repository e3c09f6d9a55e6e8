import { MemoryData, MemoryStore } from './memory.ts';
import { storeCompliance } from './compliance.ts';

storeCompliance('memory store', async () => {
  const data = new MemoryData();
  return {
    open: async () => {
      const s = new MemoryStore({ data });
      await s.migrate();
      return s;
    },
    dispose: async () => undefined,
  };
});
