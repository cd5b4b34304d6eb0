/**
 * Frames of the user's own videos for calibration, decoded exactly as
 * analyze decodes them for this model (decodeFrames with the model's
 * geometry, deinterlaced where the probe says so), split alternately into a
 * calibration set and a held-out set that only the agreement report sees.
 */
import { randomUUID } from 'node:crypto';
import type { FrameGeometry, Sampling } from '../../contracts/frame.ts';
import { decodeFrames } from '../../ingest/file-decoder.ts';
import { probeInput } from '../../ingest/probe.ts';
import { UsageError } from '../../shared/errors.ts';

export interface CalibrationFrame {
  input: string;
  /** Index among the frames decoded from `input` with `sampling`. */
  seq: number;
  ptsMs: number;
  /** rgb24, cropWidth x cropHeight. */
  data: Buffer;
}

export interface InputSampling {
  input: string;
  sampling: Sampling;
  decoded: number;
}

export interface CalibrationFrames {
  calibration: CalibrationFrame[];
  heldOut: CalibrationFrame[];
  inputs: InputSampling[];
}

export interface CollectOptions {
  geometry: FrameGeometry;
  /** Calibration frames wanted in all; as many again are decoded to be held out. */
  frames: number;
  /** Fewest calibration frames accepted (and fewest held out: a quarter of it, at least 1). */
  minFrames: number;
  onFrame?: (decoded: number, wanted: number) => void;
  signal?: AbortSignal;
}

/**
 * Frames spread evenly over each video: about 2 * frames / videos from each
 * (every frame when a video has fewer), even positions for calibration, odd
 * ones held out.
 */
export async function collectCalibrationFrames(videos: readonly string[], opts: CollectOptions): Promise<CalibrationFrames> {
  const perVideo = Math.ceil((2 * opts.frames) / videos.length);
  const wanted = perVideo * videos.length;
  const calibration: CalibrationFrame[] = [];
  const heldOut: CalibrationFrame[] = [];
  const inputs: InputSampling[] = [];
  let decoded = 0;
  for (const input of videos) {
    const probe = await probeInput(input);
    const sampling = samplingFor(probe.frameCount, probe.durationMs, perVideo);
    const decode = decodeFrames(input, {
      streamId: 'calibration',
      runId: randomUUID(),
      sampling,
      geometry: opts.geometry,
      deinterlace: probe.interlaced,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    let seq = 0;
    for await (const frame of decode) {
      const f: CalibrationFrame = { input, seq, ptsMs: frame.ptsMs, data: Buffer.from(frame.data) };
      (seq % 2 === 0 ? calibration : heldOut).push(f);
      seq++;
      decoded++;
      opts.onFrame?.(decoded, wanted);
      if (seq >= perVideo) break;
    }
    inputs.push({ input, sampling, decoded: seq });
  }
  const minHeldOut = Math.max(1, Math.floor(opts.minFrames / 4));
  if (calibration.length < opts.minFrames || heldOut.length < minHeldOut) {
    throw new UsageError(
      `too few frames: the videos gave ${calibration.length + heldOut.length}, need at least ${opts.minFrames + minHeldOut} (${opts.minFrames} for calibration, ${minHeldOut} held out)`,
      { hint: 'give longer or more videos' },
    );
  }
  return { calibration: calibration.slice(0, opts.frames), heldOut: heldOut.slice(0, opts.frames), inputs };
}

/** Every frame when the video holds no more than `wanted`, else an fps that yields about `wanted`. */
export function samplingFor(frameCount: number | null, durationMs: number | null, wanted: number): Sampling {
  if (frameCount !== null && frameCount <= wanted) return { mode: 'every' };
  if (durationMs === null || durationMs <= 0) return { mode: 'every' };
  // Slightly above wanted/duration so that rounding of the fps filter still yields `wanted`.
  const fps = Math.ceil(((wanted + 1) / (durationMs / 1000)) * 1000) / 1000;
  return { mode: 'fps', fps };
}
