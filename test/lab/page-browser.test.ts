/**
 * The page's browser test (test/web/page.test.ts) against a running agent in the netns lab
 * (test/lab/page-lab-target.ts): chromium in the router's namespace, the agent's own web server, a peer
 * moving from the relay to direct for real, natpmpc's mappings, the IPS check's finding, real settings.
 */
process.env.CONEGATE_WEB_TARGET = 'test/lab/page-lab-target.ts';
await import('../web/page.test.ts');
