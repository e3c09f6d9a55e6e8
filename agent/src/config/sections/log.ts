/** Config section `log`. */
export const logSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Logging. Logs are JSON lines on stderr (human format on a terminal); secrets are always redacted.',
  properties: {
    level: {
      enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      description: 'Minimum level; CONEGATE_LOG_LEVEL overrides it.',
    },
  },
} as const;

export interface LogConfig {
  level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}
