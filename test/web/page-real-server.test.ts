/**
 * The page's browser test (page.test.ts) again, served by the agent's real web server
 * (agent/src/web/server.ts: token sessions, Host allow-list, same-origin JSON-only writes, strict CSP,
 * server-sent events) instead of the fake agent; the model behind it is the fake's (test/web/server-target.ts).
 */
process.env.CONEGATE_WEB_TARGET = 'test/web/server-target.ts';
await import('./page.test.ts');
