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

/** One libnftables context of our own: a batch in (one netlink transaction), its output out, or a rejection. */
export interface NftRunner {
  run(batch: string): string;
  close(): void;
}

/**
 * Binds libnftables with a new context; undefined where koffi or the library is missing. Each caller
 * that needs its own netlink socket (the firewall; the UDP relay's owned table) opens its own.
 */
export function openNftRunner(): NftRunner | undefined {
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const lib = koffi.load('libnftables.so.1');
    const ctxNew = lib.func('void *nft_ctx_new(uint32_t flags)');
    const bufferOutput = lib.func('int nft_ctx_buffer_output(void *ctx)');
    const bufferError = lib.func('int nft_ctx_buffer_error(void *ctx)');
    const getError = lib.func('const char *nft_ctx_get_error_buffer(void *ctx)');
    const getOutput = lib.func('const char *nft_ctx_get_output_buffer(void *ctx)');
    const runCmd = lib.func('int nft_run_cmd_from_buffer(void *ctx, const char *buf)');
    const free = lib.func('void nft_ctx_free(void *ctx)');
    let ctx: unknown = ctxNew(0);
    if (!ctx) return undefined;
    // Buffered, so nothing reaches our stdout/stderr; reading a buffer also empties it.
    bufferOutput(ctx);
    bufferError(ctx);
    return {
      run(batch) {
        if (!ctx) throw new ConegateError('CG_INTERNAL', 'libnftables context already closed');
        const rc = runCmd(ctx, batch) as number;
        const out = String(getOutput(ctx) ?? '');
        const err = String(getError(ctx) ?? '').trim();
        if (rc !== 0) throw new ConegateError('CG_FIREWALL_REJECTED', `nft refused the change (nothing applied): ${err || `libnftables returned ${rc}`}`);
        return out;
      },
      close() {
        if (ctx) free(ctx);
        ctx = undefined;
      },
    };
  } catch {
    return undefined;
  }
}

/** The firewall's batch runner on its own libnftables context. */
export class LibNftables implements NftBatchRunner {
  /** Batches run (tests and stats). */
  runs = 0;

  private constructor(private readonly runner: NftRunner) {}

  /** Undefined where koffi or the library is missing (the caller uses the nft process). */
  static open(): LibNftables | undefined {
    const runner = openNftRunner();
    return runner && new LibNftables(runner);
  }

  async run(batch: string): Promise<void> {
    this.runs++;
    this.runner.run(batch);
  }

  async close(): Promise<void> {
    this.runner.close();
  }
}
