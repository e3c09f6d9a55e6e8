<?php

/*
 * The PageTransport JSON block the status page writes for the shared front-end bundle (contract:
 * agent/src/web/model.ts). A `type="application/json"` script never runs, but its text must not be
 * able to close the element: <, >, & and quotes become \u escapes (JSON_HEX_*), which JSON.parse reads
 * back. Kept apart from the controller so a test can run it without the MVC framework.
 */

namespace OPNsense\Conegate;

class PageTransport
{
    /** The API controller the front-end calls: ${base}/page, ${base}/pmp/delete, ${base}/nat/apply ... */
    const BASE = '/api/conegate/agent';

    /** Polled, not streamed: configd runs one `conegate control` per request, so no event stream. */
    const POLL_MS = 2000;

    /**
     * @param string $csrfToken the session's token; OPNsense's API checks it in X-CSRFToken on POST
     * @return array the PageTransport
     */
    public static function build($csrfToken)
    {
        return [
            'host' => 'opnsense',
            'base' => self::BASE,
            'live' => 'poll',
            'pollMs' => self::POLL_MS,
            'csrf' => ['header' => 'X-CSRFToken', 'token' => (string)$csrfToken],
            'platform' => 'opnsense',
        ];
    }

    /** @return string the <script type="application/json" id="conegate-transport"> element */
    public static function block($csrfToken)
    {
        $json = json_encode(
            self::build($csrfToken),
            JSON_HEX_TAG | JSON_HEX_AMP | JSON_HEX_APOS | JSON_HEX_QUOT | JSON_UNESCAPED_SLASHES
        );
        return '<script type="application/json" id="conegate-transport">' . $json . '</script>';
    }
}
