/**
 * Registrations per source address (net/ratelimit.ts): a burst of `burst` requests, then `perSec` a
 * second, in a table of at most `maxKeys` addresses.
 */
import { KeyedTokenBuckets } from '../../net/ratelimit.ts';

export interface RateLimitConfig {
  burst: number;
  perSec: number;
  maxKeys: number;
}

export const DEFAULT_REGISTER_LIMIT: RateLimitConfig = { burst: 20, perSec: 2, maxKeys: 10_000 };

export class TokenBuckets extends KeyedTokenBuckets {
  constructor(config: RateLimitConfig) {
    super({ perSec: config.perSec, burst: config.burst }, config.maxKeys);
  }
}
