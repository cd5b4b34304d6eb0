import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyFailure, isErrorLine, isTruncationLine, logLevel, mostRelevantLine, stripLogPrefix } from '../../../src/ingest/ffmpeg-log.ts';

test('log levels are read from the [level] tag', () => {
  assert.equal(logLevel('[h264 @ 0x55d0] [error] error while decoding MB 5 13'), 'error');
  assert.equal(logLevel('[warning] a.ts: corrupt input packet in stream 0'), 'warning');
  assert.equal(logLevel('To ignore this, add a trailing ? to the map.'), null);
  assert.ok(isErrorLine('[fatal] Stream map matches no streams.'));
  assert.ok(!isErrorLine('[info] Input #0, mov'));
});

test('prefixes are stripped and the last error line is the relevant one', () => {
  assert.equal(stripLogPrefix('[tcp @ 0x5559bfb24fc0] [error] Connection refused'), 'Connection refused');
  const lines = ['[info] Input #0', '[fatal] Stream map matches no streams.', 'To ignore this, add a trailing ?'];
  assert.equal(mostRelevantLine(lines), 'Stream map matches no streams.');
  assert.equal(mostRelevantLine(['[info] something', '']), 'something');
  assert.equal(mostRelevantLine([]), '');
});

test('truncation lines are recognised', () => {
  assert.ok(isTruncationLine('[mov,mp4,m4a,3gp,3g2,mj2 @ 0x56] [error] stream 0, offset 0x17ca6: partial file'));
  assert.ok(!isTruncationLine('[h264 @ 0x1] [error] co located POCs unavailable'));
});

test('failures map to the error classes', () => {
  const cases: [string, boolean, string[], string][] = [
    ['x.txt', false, ['[error] x.txt: Invalid data found when processing input'], 'E_NOT_A_VIDEO'],
    ['a.wav', false, ["[fatal] Stream map '0:v:0' matches no streams."], 'E_NOT_A_VIDEO'],
    ['n.mp4', false, ['[error] n.mp4: No such file or directory'], 'E_INPUT_NOT_FOUND'],
    ['http://h:9/a', true, ['[tcp @ 0x1] [error] Connection to tcp://h:9 failed: Connection refused'], 'E_SOURCE_UNREACHABLE'],
    ['http://h/a', true, ['[http @ 0x1] [error] HTTP error 404 Not Found', '[error] http://h/a: Server returned 404 Not Found'], 'E_SOURCE_UNREACHABLE'],
    ['rtsp://h/a', true, ['[error] rtsp://h/a: Failed to resolve hostname h'], 'E_SOURCE_UNREACHABLE'],
    ['a.mp4', false, ['[error] something unusual'], 'E_DECODE'],
  ];
  for (const [input, url, lines, code] of cases) {
    const err = classifyFailure(input, lines, url);
    assert.equal(err.code, code, `${input}: ${lines.join(' | ')}`);
    assert.doesNotMatch(err.message, /\n/, 'one line');
  }
  // An RTSP server's refusal says more than ffmpeg's errno line after it.
  assert.equal(
    classifyFailure('rtsp://h/a', ['[rtsp @ 0x1] [error] method SETUP failed: 461 Unsupported transport', '[error] rtsp://h/a: Protocol not supported'], true)
      .message,
    'rtsp://h/a: ffmpeg failed: method SETUP failed: 461 Unsupported transport (the server does not stream RTP over the RTSP transport asked for: see rtspTransport)',
  );
  assert.match(
    classifyFailure('rtsp://h/a', ['[rtsp @ 0x1] [error] method DESCRIBE failed: 404 Not Found', '[error] rtsp://h/a: Server returned 404 Not Found'], true)
      .message,
    /^rtsp:\/\/h\/a cannot be reached: method DESCRIBE failed: 404 Not Found$/,
  );
  assert.equal(
    classifyFailure('x.txt', ['[error] x.txt: Invalid data found when processing input'], false).message,
    'x.txt is not a video ffmpeg can decode: Invalid data found when processing input',
  );
});

test("the cause is shown, not ffmpeg's wrap-up lines after it", () => {
  // A text file named .jpg (ffmpeg 5.1's log).
  const jpeg = [
    '[mjpeg @ 0x1] [fatal] No JPEG data found in image',
    '[error] Error while decoding stream #0:0: Invalid data found when processing input',
    '[error] Cannot determine format of input stream 0:0 after EOF',
    '[fatal] Error marking filters as finished',
    '[info] Conversion failed!',
  ];
  assert.equal(mostRelevantLine(jpeg), 'No JPEG data found in image');
  // An mp4 cut before its moov atom (or anything else named .mp4).
  const mp4 = ['[mov,mp4,m4a,3gp,3g2,mj2 @ 0x1] [error] moov atom not found', '[error] cut.mp4: Invalid data found when processing input'];
  assert.equal(
    classifyFailure('cut.mp4', mp4, false).message,
    'cut.mp4 is not a video ffmpeg can decode: moov atom not found (not an mp4/mov, or one cut short before its index)',
  );
  // Only wrap-up lines: one is still better than nothing.
  assert.equal(mostRelevantLine(['[error] x.txt: Invalid data found when processing input']), 'x.txt: Invalid data found when processing input');
  // A JPEG cut inside its headers (ffmpeg 5.1): the cause is a warning, the errors are all wrap-ups.
  const cutJpeg = [
    '[image2 @ 0x1] [warning] Could not find codec parameters for stream 0 (Video: mjpeg (Baseline), none(bt470bg/unknown/unknown)): unspecified size',
    "[warning] Consider increasing the value for the 'analyzeduration' (0) and 'probesize' (5000000) options",
    '[error] Error while decoding stream #0:0: Invalid data found when processing input',
    '[error] Cannot determine format of input stream 0:0 after EOF',
    '[fatal] Error marking filters as finished',
  ];
  assert.match(mostRelevantLine(cutJpeg), /^Could not find codec parameters for stream 0 .*unspecified size$/);
  // Without it, the first wrap-up (nearest the cause), not the last.
  assert.equal(mostRelevantLine(cutJpeg.slice(1)), 'Error while decoding stream #0:0: Invalid data found when processing input');
});

test('no video stream but a cover picture (-map 0:V:0) says so', () => {
  const err = classifyFailure('song.m4a', ["[fatal] Stream map '0:V:0' matches no streams.", 'To ignore this, add a trailing ? to the map.'], false);
  assert.equal(err.code, 'E_NOT_A_VIDEO');
  assert.equal(err.message, 'song.m4a has no video stream (a cover picture is not one)');
});
