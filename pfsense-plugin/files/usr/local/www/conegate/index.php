<?php
/*
 * Services > conegate > Status: the shared front-end bundle (peers and paths, port mappings,
 * netcheck, IPS findings, NAT rules; contract agent/src/web/model.ts), fed by api.php in this
 * folder, never by a TCP listener of the agent.
 */
##|+PRIV
##|*IDENT=page-services-conegate
##|*NAME=Services: conegate
##|*DESCR=Allow access to conegate's settings, status page and its API.
##|*MATCH=conegate/index.php*
##|-PRIV

require_once("guiconfig.inc");
require_once("conegate.inc");

/*
 * api.php's own CSRF token for JSON writes (csrf-magic only reads form fields): one per session,
 * random, compared with hash_equals there.
 */
phpsession_begin();
if (empty($_SESSION['conegate_csrf'])) {
	$_SESSION['conegate_csrf'] = bin2hex(random_bytes(32));
}
$conegate_csrf = $_SESSION['conegate_csrf'];
phpsession_end(true);

$pgtitle = array(gettext("Services"), gettext("conegate"), gettext("Status"));
$pglinks = array("", "/conegate/index.php", "@self");
include("head.inc");

$tab_array = array();
$tab_array[] = array(gettext("Status"), true, "/conegate/index.php");
$tab_array[] = array(gettext("Settings"), false, "/pkg_edit.php?xml=conegate.xml");
display_top_tabs($tab_array);
?>
<link rel="stylesheet" href="/conegate/app.css" />
<?=conegate_transport_block($conegate_csrf)?>
<div id="conegate-app"></div>
<script src="/conegate/app.js" defer></script>
<?php include("foot.inc"); ?>
