'use strict';
// tests/node/omise_types.js: the response shapes the omise package itself declares, read from
// its own TypeScript declarations (node_modules/omise/types/index.d.ts, pinned by
// package-lock.json). fieldsOf('Charges', 'ICharge') lists the fields an ICharge must have
// (optional `name?:` fields left out), including those of the interface it extends
// (IBaseResponse, IOccurrences), so a test can check a sandbox answer against what a
// TypeScript user of the package is promised.

const fs = require('fs');

const typesPath = require.resolve('omise/types/index.d.ts');
const text = fs.readFileSync(typesPath, 'utf8');
const lines = text.split('\n');

// The body lines of `interface <name>` (inside `export namespace <namespace>` when given).
function interfaceBody(namespace, name) {
  let start = 0;
  if (namespace) {
    start = lines.findIndex((line) => line.trim() === `export namespace ${namespace} {`);
    if (start < 0) {
      throw new Error(`omise types: no namespace ${namespace} in ${typesPath}`);
    }
  }
  const header = new RegExp(`^(\\s*)interface ${name}( extends (\\w+))?\\s*\\{\\s*$`);
  for (let i = start; i < lines.length; i += 1) {
    const found = header.exec(lines[i]);
    if (!found) {
      continue;
    }
    const indent = found[1];
    const body = [];
    for (let j = i + 1; j < lines.length; j += 1) {
      if (lines[j] === `${indent}}`) {
        return {body, parent: found[3]};
      }
      body.push(lines[j]);
    }
    break;
  }
  throw new Error(`omise types: no interface ${namespace || ''}.${name} in ${typesPath}`);
}

// Required (not `?:`) field names of the interface and of the interface it extends.
function fieldsOf(namespace, name) {
  const {body, parent} = interfaceBody(namespace, name);
  const fields = [];
  for (const line of body) {
    const field = /^\s+(\w+)(\??):/.exec(line);
    if (field && field[2] !== '?') {
      fields.push(field[1]);
    }
  }
  if (parent) {
    for (const inherited of fieldsOf(null, parent)) {
      if (!fields.includes(inherited)) {
        fields.push(inherited);
      }
    }
  }
  if (fields.length === 0) {
    throw new Error(`omise types: ${namespace}.${name} declares no required field`);
  }
  return fields;
}

// Fields `fieldsOf` requires that `object` lacks (a null value counts as present: Omise sends
// null for what does not apply).
function missingFields(object, namespace, name) {
  return fieldsOf(namespace, name).filter((field) => !(field in object));
}

module.exports = {fieldsOf, missingFields, typesPath};
