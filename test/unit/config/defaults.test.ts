import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigSchema, DEFAULTS } from '../../../src/config/schema.ts';

test("a section left out is {} with its keys' own defaults (no section-level copy that could drift)", () => {
  for (const [key, section] of Object.entries(ConfigSchema.shape)) {
    let fromEmpty: unknown;
    try {
      fromEmpty = section.parse({});
    } catch {
      continue; // not an object section (sources: a list)
    }
    const leftOut = section.parse(undefined);
    if (leftOut === undefined) continue; // an optional section (allowlist: absent means nothing allowed)
    assert.deepEqual(leftOut, fromEmpty, `config key "${key}": left out, it must equal {} with every key's default`);
  }
});

test("a section given in part keeps the other keys' defaults", () => {
  const c = ConfigSchema.parse({ server: { port: 0 }, watchdog: { maxRestarts: 3 }, events: { enterFrames: 5 } });
  assert.deepEqual(c.server, { ...DEFAULTS.server, port: 0 });
  assert.deepEqual(c.watchdog, { ...DEFAULTS.watchdog, maxRestarts: 3 });
  assert.deepEqual(c.events, { ...DEFAULTS.events, enterFrames: 5 });
});

test('DEFAULTS is the schema with nothing set, frozen all the way down', () => {
  assert.deepEqual(DEFAULTS, ConfigSchema.parse({}));
  assert.ok(Object.isFrozen(DEFAULTS) && Object.isFrozen(DEFAULTS.watchdog) && Object.isFrozen(DEFAULTS.sources));
  assert.throws(() => {
    (DEFAULTS.events as { enterScore: number }).enterScore = 0.9;
  }, TypeError);
});

test("config/default.yaml documents the schema's defaults and changes none of them", () => {
  const file = parse(readFileSync(new URL('../../../config/default.yaml', import.meta.url), 'utf8')) as unknown;
  assert.deepEqual(ConfigSchema.parse(file), DEFAULTS);
});
