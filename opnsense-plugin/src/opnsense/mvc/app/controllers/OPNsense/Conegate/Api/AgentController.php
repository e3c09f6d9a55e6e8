<?php

/*
 * /api/conegate/agent/...: the PageTransport base of the shared front-end on OPNsense. OPNsense has
 * already checked the session, the ACL (page-services-conegate) and, on POST, the CSRF token
 * (X-CSRFToken) before an action runs. Each action becomes one control-socket command, run by configd
 * (`conegate control`, actions_conegate.conf) as root; the request travels base64url-encoded, so no
 * quoting of JSON through configd's parameter handling is involved.
 *
 *   GET  page            -> {"cmd":"page"}
 *   POST pmp/delete      -> {"cmd":"pmp-delete","client","protocol","internalPort"}
 *   GET  settings        -> {"cmd":"settings-get"}
 *   POST settings        -> refused: on OPNsense config.xml is the source of the settings (see below)
 *   POST nat/apply       -> {"cmd":"nat-apply","confirmSeconds"?}
 *   POST nat/confirm     -> {"cmd":"nat-confirm"}
 *   POST nat/revert      -> {"cmd":"nat-revert"}
 */

namespace OPNsense\Conegate\Api;

use OPNsense\Base\ApiControllerBase;
use OPNsense\Core\Backend;

class AgentController extends ApiControllerBase
{
    /** Run one control command through configd; the agent's answer ({ok, result|error}) as an array. */
    private function control(array $request)
    {
        $this->sessionClose();
        $arg = rtrim(strtr(base64_encode(json_encode($request)), '+/', '-_'), '=');
        $out = (new Backend())->configdpRun('conegate control', [$arg]);
        $answer = json_decode((string)$out, true);
        if (!is_array($answer) || !array_key_exists('ok', $answer)) {
            return ['ok' => false, 'error' => ['code' => 'CG_NOT_RUNNING', 'message' => 'no answer from the conegate agent (is the service running?)']];
        }
        return $answer;
    }

    /** The JSON body of a POST, or null when it is not a JSON object. */
    private function body()
    {
        $body = json_decode((string)$this->request->getRawBody(), true);
        return is_array($body) ? $body : null;
    }

    private function refuse($message)
    {
        return ['ok' => false, 'error' => ['code' => 'CG_INPUT_INVALID', 'message' => $message]];
    }

    public function pageAction()
    {
        return $this->control(['cmd' => 'page']);
    }

    public function pmpAction($op = null)
    {
        if ($op !== 'delete' || !$this->request->isPost()) {
            return $this->refuse('use POST pmp/delete');
        }
        $b = $this->body();
        if ($b === null || !isset($b['client'], $b['protocol'], $b['internalPort'])) {
            return $this->refuse('pmp/delete needs a JSON body {client, protocol, internalPort}');
        }
        // The agent validates the values with the command's JSON Schema; only the keys are picked here.
        return $this->control(['cmd' => 'pmp-delete', 'client' => $b['client'], 'protocol' => $b['protocol'], 'internalPort' => $b['internalPort']]);
    }

    public function settingsAction()
    {
        if ($this->request->isPost()) {
            // config.xml is the source of the settings here (backups, HA sync, the rendered file):
            // a change made in the agent would be overwritten by the next template reload.
            return $this->refuse('On OPNsense, change the settings in Services > conegate > Settings and press Apply');
        }
        return $this->control(['cmd' => 'settings-get']);
    }

    public function natAction($op = null)
    {
        if (!$this->request->isPost() || !in_array($op, ['apply', 'confirm', 'revert'], true)) {
            return $this->refuse('use POST nat/apply, nat/confirm or nat/revert');
        }
        $request = ['cmd' => 'nat-' . $op];
        $b = $this->body();
        if ($op === 'apply' && $b !== null && isset($b['confirmSeconds'])) {
            $request['confirmSeconds'] = $b['confirmSeconds'];
        }
        return $this->control($request);
    }
}
