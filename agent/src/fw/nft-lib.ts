/**
 * Firewall batches through libnftables in this process (libnftables1, installed with nftables), for
 * when the agent runs in the network namespace it manages (always, except lab tests that drive another
 * namespace through `ip netns exec`). Same semantics as a line to `nft -i` (one buffer is one
 * libnftables run, i.e. ONE netlink transaction; errors come back in the error buffer), without a
 * second process: a change costs no pipe round trip and no wake-up of another process, which is
 * what dominated on a busy router (see README, benchmark).
 *
 * The call is synchronous: the kernel handles an nf_tables batch inside the sendmsg of it and answers
 * at once, so it is bounded by the kernel's own work (about a millisecond here), not by a peer that
 * could hang; the process channel (nft-channel.ts) remains for other namespaces.
 */
import { createRequire } from 'node:module';
import { ConegateError } from '../errors.ts';
import type { NftBatchRunner } from './nft-channel.ts';

interface Bound {
  ctx: unknown;
  run(ctx: unknown, buf: string): number;
  errors(ctx: unknown): string;
  free(ctx: unknown): void;
}

export class LibNftables implements NftBatchRunner {
  private bound: Bound | undefined;
  /** Batches run (tests and stats). */
  runs = 0;

  private constructor(bound: Bound) {
    this.bound = bound;
  }

  /** Binds libnftables; undefined where koffi or the library is missing (the caller uses the nft process). */
  static open(): LibNftables | undefined {
    try {
      const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
      const lib = koffi.load('libnftables.so.1');
      const ctxNew = lib.func('void *nft_ctx_new(uint32_t flags)');
      const bufferOutput = lib.func('int nft_ctx_buffer_output(void *ctx)');
      const bufferError = lib.func('int nft_ctx_buffer_error(void *ctx)');
      const getError = lib.func('const char *nft_ctx_get_error_buffer(void *ctx)');
      const getOutput = lib.func('const char *nft_ctx_get_output_buffer(void *ctx)');
      const run = lib.func('int nft_run_cmd_from_buffer(void *ctx, const char *buf)');
      const free = lib.func('void nft_ctx_free(void *ctx)');
      const ctx = ctxNew(0);
      if (!ctx) return undefined;
      // Buffered, so nothing reaches our stdout/stderr; reading a buffer also empties it.
      bufferOutput(ctx);
      bufferError(ctx);
      return new LibNftables({
        ctx,
        run: (c, buf) => {
          const rc = run(c, buf) as number;
          getOutput(c);
          return rc;
        },
        errors: (c) => String(getError(c) ?? ''),
        free: (c) => free(c),
      });
    } catch {
      return undefined;
    }
  }

  async run(batch: string): Promise<void> {
    const b = this.bound;
    if (!b) throw new ConegateError('CG_INTERNAL', 'libnftables context already closed');
    this.runs++;
    const rc = b.run(b.ctx, batch);
    const errors = b.errors(b.ctx).trim();
    if (rc !== 0) throw new ConegateError('CG_FIREWALL_REJECTED', `nft refused the change (nothing applied): ${errors || `libnftables returned ${rc}`}`);
  }

  async close(): Promise<void> {
    const b = this.bound;
    this.bound = undefined;
    if (b) b.free(b.ctx);
  }
}
