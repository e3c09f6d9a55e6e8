<?php
/*
 * The status page's API (PageTransport base "/conegate/api.php?r="): pfSense's guiconfig.inc has
 * checked the session and this page's privilege (page-services-conegate) before any line below runs;
 * writes also need this package's CSRF token in X-Conegate-Csrf, a JSON body, and no cross-site
 * Sec-Fetch-Site. Each route is one control-socket command through `conegate control` (argv, no shell):
 *
 *   GET  r=/page          -> page                   POST r=/pmp/delete   -> pmp-delete
 *   GET  r=/settings      -> settings-get           POST r=/nat/apply    -> nat-apply
 *   POST r=/nat/confirm   -> nat-confirm            POST r=/nat/revert   -> nat-revert
 *   POST r=/settings      -> refused: config.xml is the source of the settings here (Settings tab)
 */
##|+PRIV
##|*IDENT=page-services-conegate
##|*NAME=Services: conegate
##|*DESCR=Allow access to conegate's settings, status page and its API.
##|*MATCH=conegate/api.php*
##|-PRIV

// csrf-magic only knows form fields; JSON writes are checked against our own token below.
$nocsrf = true;
require_once("guiconfig.inc");
require_once("conegate.inc");

function conegate_api_reply($status, $answer)
{
	http_response_code($status);
	header('Content-Type: application/json');
	header('Cache-Control: no-store');
	header('X-Content-Type-Options: nosniff');
	echo json_encode($answer);
	exit;
}

function conegate_api_refuse($status, $message)
{
	conegate_api_reply($status, array('ok' => false, 'error' => array('code' => 'CG_INPUT_INVALID', 'message' => $message)));
}

/** The JSON object of a write, after the token, content type and fetch-site checks. */
function conegate_api_write_body()
{
	phpsession_begin();
	$expected = (string)($_SESSION['conegate_csrf'] ?? '');
	phpsession_end(true);
	$sent = (string)($_SERVER['HTTP_X_CONEGATE_CSRF'] ?? '');
	if ($expected === '' || !hash_equals($expected, $sent)) {
		conegate_api_refuse(403, 'missing or wrong CSRF token (reload the page)');
	}
	if (($_SERVER['HTTP_SEC_FETCH_SITE'] ?? 'same-origin') === 'cross-site') {
		conegate_api_refuse(403, 'cross-site request refused');
	}
	if (stripos((string)($_SERVER['CONTENT_TYPE'] ?? ''), 'application/json') !== 0) {
		conegate_api_refuse(415, 'writes take a JSON body (Content-Type: application/json)');
	}
	$body = json_decode((string)file_get_contents('php://input'), true);
	return is_array($body) ? $body : array();
}

$route = (string)($_GET['r'] ?? '');
$method = (string)($_SERVER['REQUEST_METHOD'] ?? 'GET');
$reads = array('/page' => 'page', '/settings' => 'settings-get');
$writes = array('/pmp/delete' => 'pmp-delete', '/nat/apply' => 'nat-apply', '/nat/confirm' => 'nat-confirm', '/nat/revert' => 'nat-revert', '/settings' => null);

if ($method === 'GET' && isset($reads[$route])) {
	conegate_api_reply(200, conegate_control(array('cmd' => $reads[$route])));
}
if ($method !== 'POST' || !array_key_exists($route, $writes)) {
	conegate_api_refuse(isset($reads[$route]) || isset($writes[$route]) ? 405 : 404, 'no such API call: ' . $method . ' ' . substr($route, 0, 40));
}
$body = conegate_api_write_body();
if ($route === '/settings') {
	conegate_api_refuse(409, 'On pfSense, change the settings on Services > conegate > Settings and press Save');
}
$request = array('cmd' => $writes[$route]);
if ($route === '/pmp/delete') {
	foreach (array('client', 'protocol', 'internalPort') as $key) {
		if (!array_key_exists($key, $body)) {
			conegate_api_refuse(400, 'pmp/delete needs a JSON body {client, protocol, internalPort}');
		}
		// The agent validates the values with the command's JSON Schema; only the keys are picked here.
		$request[$key] = $body[$key];
	}
}
if ($route === '/nat/apply' && array_key_exists('confirmSeconds', $body)) {
	$request['confirmSeconds'] = $body['confirmSeconds'];
}
conegate_api_reply(200, conegate_control($request));
