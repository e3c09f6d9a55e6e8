<?php

/*
 * conegate settings model (General.xml). Plain BaseModel: every check lives in the XML, and the agent
 * validates the rendered file with its own JSON Schema before the service restarts (configd
 * `conegate reconfigure`), so a value the model lets through but the agent refuses never runs.
 */

namespace OPNsense\Conegate;

use OPNsense\Base\BaseModel;

class General extends BaseModel
{
}
