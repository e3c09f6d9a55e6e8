#!/usr/local/bin/php
<?php

/*
 * configd `conegate control <request>`: one control-socket command for the GUI's API controller
 * (Api/AgentController.php). The request arrives base64url-encoded (configd passes parameters through
 * a shell command line; this alphabet needs no quoting), is checked against the commands the page may
 * send, and goes to `conegate control` as one argv entry (proc_open with an array: no shell). Prints
 * the agent's JSON answer; anything else becomes {"ok":false,"error":{...}} so the page can say why.
 */

const CONEGATE_PAGE_COMMANDS = ['page', 'pmp-delete', 'settings-get', 'nat-apply', 'nat-confirm', 'nat-revert'];
const CONEGATE_BIN = '/usr/local/bin/conegate';
const CONEGATE_CONFIG = '/usr/local/etc/conegate/conegate.json';

function conegate_fail($code, $message)
{
    echo json_encode(['ok' => false, 'error' => ['code' => $code, 'message' => $message]]), "\n";
    exit(0);
}

$arg = $argv[1] ?? '';
if (!preg_match('/^[A-Za-z0-9_-]{1,21000}$/', $arg)) {
    conegate_fail('CG_INPUT_INVALID', 'request is not base64url');
}
$request = json_decode((string)base64_decode(strtr($arg, '-_', '+/'), true), true);
if (!is_array($request) || !in_array($request['cmd'] ?? null, CONEGATE_PAGE_COMMANDS, true)) {
    conegate_fail('CG_INPUT_INVALID', 'not a command the page may send');
}

// CONEGATE_BIN: configd's environment, set only by the tests (a stand-in that records its argv).
$bin = getenv('CONEGATE_BIN') ?: CONEGATE_BIN;
$env = ['PATH' => '/usr/local/bin:/usr/bin:/bin', 'CONEGATE_CONFIG' => CONEGATE_CONFIG];
$proc = proc_open([$bin, 'control', json_encode($request)], [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
if (!is_resource($proc)) {
    conegate_fail('CG_NOT_RUNNING', 'cannot run conegate');
}
$out = stream_get_contents($pipes[1]);
$err = stream_get_contents($pipes[2]);
fclose($pipes[1]);
fclose($pipes[2]);
$status = proc_close($proc);
$answer = json_decode((string)$out, true);
if (is_array($answer) && array_key_exists('ok', $answer)) {
    echo json_encode($answer), "\n";
    exit(0);
}
conegate_fail('CG_NOT_RUNNING', trim((string)$err) !== '' ? trim(substr((string)$err, 0, 500)) : "conegate control exited with status $status");
