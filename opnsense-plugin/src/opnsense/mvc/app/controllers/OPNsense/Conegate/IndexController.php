<?php

/*
 * Services > conegate > Status: the shared front-end bundle (peers and paths, port mappings,
 * netcheck, IPS findings, NAT rules), fed through Api/AgentController, never a TCP listener of the agent.
 */

namespace OPNsense\Conegate;

class IndexController extends \OPNsense\Base\IndexController
{
    public function indexAction()
    {
        $this->view->pick('OPNsense/Conegate/index');
        $this->view->transportBlock = PageTransport::block($this->view->csrf_token);
    }
}
