<?php

/*
 * /api/conegate/settings/get|set: the General model (config.xml //OPNsense/conegate/general).
 */

namespace OPNsense\Conegate\Api;

use OPNsense\Base\ApiMutableModelControllerBase;

class SettingsController extends ApiMutableModelControllerBase
{
    protected static $internalModelName = 'general';
    protected static $internalModelClass = '\OPNsense\Conegate\General';
}
