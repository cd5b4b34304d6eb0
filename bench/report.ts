/**
 * The shape of a benchmark run's result and its two renderings: a table for
 * people and one JSON line for programs (and BENCHMARKS.md).
 */
import { z } from 'zod';

export const MeasurementSchema = z.object({
  /** Stable dotted id, e.g. `ceiling.raw.fps`. */
  name: z.string(),
  value: z.number(),
  unit: z.string(),
  /** What was measured, in words (model, clip, flags). */
  detail: z.string(),
});

export const RatioSchema = z.object({
  name: z.string(),
  value: z.number(),
  /** Names of the measurements divided: numerator / denominator. */
  numerator: z.string(),
  denominator: z.string(),
  /** The goal from the issue, when there is one: value must be `op` goal. */
  goal: z.object({ op: z.enum(['>=', '<=']), value: z.number(), aim: z.number().optional() }).optional(),
  met: z.boolean().optional(),
});

export const BenchReportSchema = z.object({
  type: z.literal('bench'),
  version: z.literal(1),
  quick: z.boolean(),
  startedAt: z.string(),
  totalSeconds: z.number(),
  machine: z.object({
    cpus: z.number(),
    cpuModel: z.string(),
    memoryGiB: z.number(),
    node: z.string(),
    onnxruntime: z.string(),
    ffmpeg: z.string(),
    /** 1-minute load average before and after the run: other work on the machine skews every number. */
    loadAverageBefore: z.number(),
    loadAverageAfter: z.number(),
  }),
  settings: z.object({
    batch: z.number(),
    threads: z.number(),
    device: z.string(),
    repeats: z.number(),
  }),
  measurements: z.array(MeasurementSchema),
  ratios: z.array(RatioSchema),
  errors: z.array(z.object({ suite: z.string(), message: z.string() })),
});

export type Measurement = z.infer<typeof MeasurementSchema>;
export type Ratio = z.infer<typeof RatioSchema>;
export type BenchReport = z.infer<typeof BenchReportSchema>;

/** A ratio of two recorded measurements, with its goal checked. */
export function ratioOf(name: string, numerator: Measurement, denominator: Measurement, goal?: Ratio['goal']): Ratio {
  const value = numerator.value / denominator.value;
  const r: Ratio = { name, value, numerator: numerator.name, denominator: denominator.name };
  if (goal) {
    r.goal = goal;
    r.met = goal.op === '>=' ? value >= goal.value : value <= goal.value;
  }
  return r;
}

function fmt(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1000) return value.toFixed(0);
  if (abs >= 100) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (c === 0 || c === r.length - 1 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Human-readable rendering: measurements, then ratios with their goals. */
export function formatTable(report: BenchReport): string {
  const m = report.machine;
  const s = report.settings;
  const lines: string[] = [];
  lines.push(
    `StreamSight bench${report.quick ? ' (--quick: smoke run, not benchmark numbers)' : ''} · ${m.cpus} CPU(s) ${m.cpuModel} · node ${m.node} · onnxruntime-node ${m.onnxruntime} · ffmpeg ${m.ffmpeg}`,
  );
  lines.push(
    `batch ${s.batch} · threads ${s.threads === 0 ? '0 (one per physical core)' : s.threads} · device ${s.device} · best of ${s.repeats} · load average ${m.loadAverageBefore.toFixed(2)} before, ${m.loadAverageAfter.toFixed(2)} after · ${report.totalSeconds.toFixed(0)} s in all`,
  );
  lines.push('');
  const mRows = [['measurement', 'value', 'unit', 'what'], ...report.measurements.map((x) => [x.name, fmt(x.value), x.unit, x.detail])];
  lines.push(pad(mRows));
  if (report.ratios.length > 0) {
    lines.push('');
    const rRows = [
      ['ratio', 'value', 'goal', 'met', '= numerator / denominator'],
      ...report.ratios.map((r) => [
        r.name,
        fmt(r.value),
        r.goal ? `${r.goal.op} ${r.goal.value}${r.goal.aim !== undefined ? ` (aim ${r.goal.aim})` : ''}` : '-',
        r.met === undefined ? '-' : r.met ? 'yes' : 'NO',
        `${r.numerator} / ${r.denominator}`,
      ]),
    ];
    lines.push(pad(rRows));
  }
  for (const e of report.errors) lines.push(`error in ${e.suite}: ${e.message}`);
  return lines.join('\n');
}
