<?php

/*
 * Services > conegate > Settings: the model's form. Apply renders the agent's config file from
 * config.xml, has the agent validate it, then restarts the service (Api/ServiceController).
 */

namespace OPNsense\Conegate;

class SettingsController extends \OPNsense\Base\IndexController
{
    public function indexAction()
    {
        $this->view->pick('OPNsense/Conegate/settings');
        $this->view->generalForm = $this->getForm('general');
    }
}
