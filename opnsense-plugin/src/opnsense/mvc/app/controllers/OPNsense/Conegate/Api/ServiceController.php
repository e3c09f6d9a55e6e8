<?php

/*
 * /api/conegate/service/start|stop|restart|status|reconfigure.
 */

namespace OPNsense\Conegate\Api;

use OPNsense\Base\ApiMutableServiceControllerBase;
use OPNsense\Core\Backend;

class ServiceController extends ApiMutableServiceControllerBase
{
    protected static $internalServiceClass = '\OPNsense\Conegate\General';
    protected static $internalServiceEnabled = 'enabled';
    protected static $internalServiceTemplate = 'OPNsense/Conegate';
    protected static $internalServiceName = 'conegate';

    /**
     * Render the config, let the agent validate it with its JSON Schema, and only then (re)start:
     * a file the agent refuses never replaces a running agent's config silently; the answer names
     * the field, as the agent's validator does.
     */
    public function reconfigureAction()
    {
        if (!$this->request->isPost()) {
            return ['status' => 'failed'];
        }
        $this->sessionClose();
        $backend = new Backend();
        $backend->configdRun('template reload ' . escapeshellarg(static::$internalServiceTemplate));
        $enabled = (string)$this->getModel()->enabled === '1';
        if (!$enabled) {
            $backend->configdRun('conegate stop');
            return ['status' => 'ok'];
        }
        $check = trim((string)$backend->configdRun('conegate validate'));
        if (strpos($check, ': valid') === false) {
            return ['status' => 'failed', 'message' => $check];
        }
        $backend->configdRun('conegate restart');
        return ['status' => 'ok'];
    }
}
