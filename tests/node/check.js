'use strict';
// tests/node/check.js: the small assertion kit the independent-client scripts share. No test
// framework: every check prints one line; the first failure prints what was expected and what
// came back, and the script exits with status 1.

const util = require('util');

let checks = 0;

function show(value) {
  return util.inspect(value, {depth: 6, breakLength: 120});
}

function fail(what, detail) {
  console.error(`FAIL: ${what}`);
  if (detail !== undefined) {
    console.error(detail);
  }
  process.exit(1);
}

// check('token.used is false', token.used === false, token)
function check(what, condition, context) {
  if (!condition) {
    fail(what, context === undefined ? undefined : `got: ${show(context)}`);
  }
  checks += 1;
  console.log(`ok ${checks} - ${what}`);
}

function equal(what, actual, expected) {
  if (!util.isDeepStrictEqual(actual, expected)) {
    fail(what, `expected: ${show(expected)}\n     got: ${show(actual)}`);
  }
  checks += 1;
  console.log(`ok ${checks} - ${what} = ${show(expected)}`);
}

function matches(what, actual, pattern) {
  if (typeof actual !== 'string' || !pattern.test(actual)) {
    fail(what, `expected a string matching ${pattern}\n     got: ${show(actual)}`);
  }
  checks += 1;
  console.log(`ok ${checks} - ${what} ~ ${pattern} (${actual})`);
}

function isoTime(what, actual) {
  matches(what, actual, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
  check(`${what} is a valid date`, !Number.isNaN(Date.parse(actual)), actual);
}

// Runs `promise`, which must be rejected; returns the rejection reason.
async function rejection(what, promise) {
  try {
    const value = await promise;
    fail(`${what}: expected a rejection`, `resolved with: ${show(value)}`);
  } catch (reason) {
    checks += 1;
    console.log(`ok ${checks} - ${what} is rejected`);
    return reason;
  }
  return undefined;
}

// Runs main(); any exception (a network error, a rejection nobody expected) is a failure.
function run(name, main) {
  main().then(
    () => {
      console.log(`PASS ${name}: ${checks} checks`);
    },
    (error) => {
      fail(`${name} threw`, error && error.stack ? error.stack : show(error));
    });
}

function env(name) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    fail(`environment variable ${name} is not set (tests/integration/node_clients_test.cpp sets it)`);
  }
  return value;
}

module.exports = {check, equal, matches, isoTime, rejection, run, env, fail, show};
