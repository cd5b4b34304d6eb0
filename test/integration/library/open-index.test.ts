/**
 * openIndex() of the package's API answers what `streamsight search --json`
 * and `streamsight export` answer for the same index: by label, by frame,
 * by picture (file or bytes), and every export format.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openIndex, type SearchResponse } from '../../../src/index.ts';
import { isStreamSightError } from '../../../src/shared/errors.ts';
import { runCli } from '../../helpers/cli.ts';
import { makeClip } from '../../helpers/clips.ts';
import { colourModel, colourSpans } from '../../helpers/colour-model.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-open-index-'));
const model = join(dir, 'colour.onnx');
const labels = join(dir, 'colours.txt');
const db = join(dir, 'index.db');
const redBlue = join(dir, 'red-blue.mp4');
const green = join(dir, 'green.mp4');
const bluePng = join(dir, 'blue.png');

before(
  async () => {
    writeFileSync(model, colourModel());
    writeFileSync(labels, 'red\ngreen\nblue\n');
    makeClip(redBlue, {
      seconds: 4,
      source: colourSpans([
        ['red', 2],
        ['blue', 2],
      ]),
    });
    makeClip(green, { seconds: 2, source: colourSpans([['green', 2]]) });
    execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'color=blue:s=96x96', '-frames:v', '1', bluePng]);
    const r = await runCli(['index', '--model', model, '--labels', labels, '--fps', '2', '--index', db, '--device', 'cpu', dir]);
    assert.equal(r.code, 0, r.stderr);
  },
  { timeout: 120_000 },
);
after(() => rmSync(dir, { recursive: true, force: true }));

async function cliSearch(args: string[]): Promise<SearchResponse> {
  const r = await runCli(['search', '--index', db, '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as SearchResponse;
}

/** A response without its timing, which differs between two runs. */
const untimed = ({ tookMs: _t, ...rest }: SearchResponse): Omit<SearchResponse, 'tookMs'> => rest;

test('search by label, frame and picture (file and bytes) answers as the CLI does; export as streamsight export writes', { timeout: 120_000 }, async () => {
  const index = openIndex(db);
  try {
    assert.deepEqual(
      index
        .videos()
        .map((v) => [v.path, v.status])
        .sort(),
      [
        [green, 'done'],
        [redBlue, 'done'],
      ],
    );
    assert.deepEqual(untimed(await index.search({ label: 'blue' })), untimed(await cliSearch(['--label', 'blue'])));
    assert.deepEqual(
      untimed(await index.search({ frame: `${redBlue}@0.5`, limit: 3 })),
      untimed(await cliSearch(['--frame', `${redBlue}@0.5`, '--limit', '3'])),
    );
    const byFile = await index.search({ image: bluePng, limit: 3 });
    assert.deepEqual(untimed(byFile), untimed(await cliSearch(['--image', bluePng, '--limit', '3'])));
    assert.ok(
      byFile.hits.every((h) => h.kind === 'frame' && h.topLabel === 'blue'),
      JSON.stringify(byFile.hits),
    );
    // The same picture as bytes: the same hits, with the engine kept from the first picture.
    const byBytes = await index.search({ image: readFileSync(bluePng), limit: 3 });
    assert.deepEqual(byBytes.hits, byFile.hits);
    for (const format of ['jsonl', 'csv'] as const) {
      let text = '';
      for await (const chunk of index.export({ format })) text += chunk;
      const cli = await runCli(['export', '--index', db, '--format', format]);
      assert.equal(text, cli.stdout, format);
    }
    let vtt = '';
    for await (const chunk of index.export({ format: 'vtt', video: redBlue })) vtt += chunk;
    assert.match(vtt, /^WEBVTT/);
    await assert.rejects(async () => {
      for await (const _ of index.export({ format: 'vtt' })) break;
    }, /one file per video/);
    await assert.rejects(
      () => index.search({ label: 'red', image: bluePng }),
      (err: unknown) => isStreamSightError(err) && err.code === 'E_USAGE',
    );
  } finally {
    await index.close();
    await index.close();
  }
  await assert.rejects(() => index.search({ label: 'red' }), /closed/);
});

test('openIndex on a file that is not an index throws a StreamSightError with a code', () => {
  assert.throws(
    () => openIndex(join(dir, 'missing.db')),
    (err: unknown) => isStreamSightError(err) && typeof err.code === 'string',
  );
});
