import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../../src/shared/metrics.ts';
import { startAssembled } from './server-harness.ts';

test("GET /metrics serves prom-client's default metrics under their usual names, beside the streamsight_ ones", async () => {
  const gw = await startAssembled({}, { metrics: new Metrics() });
  try {
    const res = await fetch(`http://127.0.0.1:${gw.port}/metrics`);
    assert.equal(res.status, 200);
    const names = new Set([...(await res.text()).matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]));
    // What the stock Node.js dashboards (Grafana 11159, the NodeJS Application Dashboard) query.
    for (const name of [
      'process_cpu_seconds_total',
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'process_open_fds',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_active_handles_total',
      'nodejs_version_info',
    ]) {
      assert.ok(names.has(name), `${name} missing from /metrics`);
    }
    assert.deepEqual(
      [...names].filter((n) => /^streamsight_(process|nodejs)_/.test(n ?? '')),
      [],
      'no prefixed copies',
    );
    assert.ok(names.has('streamsight_frames_processed_total'), 'the application metrics are still there');
  } finally {
    await gw.close();
  }
});
