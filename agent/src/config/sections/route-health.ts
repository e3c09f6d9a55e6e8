/**
 * Config `mesh.routeHealth`: the subnet router's health probe into its advertised prefixes (issue 18:
 * failover between two routers of one prefix "judged by a health probe into the subnet"). See
 * agent/src/service/route-health.ts. No targets: no probe; the prefix is judged by the node being online.
 */
export const routeHealthSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    targets: {
      type: 'array',
      items: { type: 'string', minLength: 1, maxLength: 64 },
      uniqueItems: true,
      maxItems: 16,
      default: [],
      description:
        'Hosts inside the advertised routes this router probes by TCP connect ("ip" = port 80, "ip:port", "[ipv6]:port"); an accept or a refusal counts as an answer. A prefix none of whose targets answers is reported unhealthy and the coordinator moves it to a healthy router advertising it.',
    },
    intervalMs: { type: 'integer', minimum: 250, maximum: 60000, default: 1000, description: 'Time between probe rounds.' },
    timeoutMs: { type: 'integer', minimum: 100, maximum: 10000, default: 1000, description: 'A target silent this long has not answered.' },
    failures: { type: 'integer', minimum: 1, maximum: 10, default: 2, description: 'Rounds in a row without an answer before the prefix is reported unhealthy (one answer makes it healthy).' },
  },
} as const;

export interface RouteHealthSettings {
  targets: string[];
  intervalMs: number;
  timeoutMs: number;
  failures: number;
}
