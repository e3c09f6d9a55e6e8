import { useEffect, useState } from 'preact/hooks';

/** The browser's clock, re-read every `everyMs`: drives "ago" texts and countdowns between model updates. */
export function useNow(everyMs: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}
