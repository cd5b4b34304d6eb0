import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runWsFanoutBench } from '../../../bench/ws-fanout.ts';

test('the fan-out bench runs end to end on a small setting and reports every figure for both phases', async () => {
  const r = await runWsFanoutBench({ clients: 40, streams: 2, fps: 10, seconds: 1, slowClients: 2 });
  const names = r.measurements.map((m) => m.name);
  for (const phase of ['normal', 'slow']) {
    for (const f of ['messagesPerSecond', 'delayP50Ms', 'delayP99Ms', 'droppedForReaders', 'gatewayRssMiB', 'gatewayCpuPercent']) {
      assert.ok(names.includes(`ws.${phase}.${f}`), `ws.${phase}.${f}`);
    }
  }
  for (const p of [r.normal, r.slow]) {
    assert.ok(p.messagesPerSecond > 0.5 * p.expectedPerSecond, `${p.messagesPerSecond} msg/s of ${p.expectedPerSecond}`);
    assert.equal(p.droppedForReaders, 0);
    assert.ok(p.gatewayRssMiB > 0 && Number.isFinite(p.gatewayCpuPercent));
  }
});
