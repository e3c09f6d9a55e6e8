import { MemoryKernelTable } from './kernel-table-memory.ts';
import { kernelTableCompliance } from './kernel-table-compliance.ts';

kernelTableCompliance('memory kernel table', async () => new MemoryKernelTable());
