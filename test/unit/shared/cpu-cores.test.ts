import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { defaultInferenceThreads, parseCpuList } from '../../../src/shared/cpu-cores.ts';

interface FakeMachine {
  /** [package id, core id] of each logical CPU, cpu0 first. */
  cpus: Array<[number, number]>;
  /** Cpus_allowed_list of the process; default every CPU. */
  allowed?: string;
  /** sysfs `online` list; default every CPU. */
  online?: string;
  /** The v2 line's path in /proc/self/cgroup; default `/`. */
  cgroupPath?: string;
  /** cpu.max files by cgroup path (`/` is the root); none by default. */
  cpuMax?: Record<string, string>;
}

const made: string[] = [];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function write(root: string, path: string, text: string): void {
  const full = join(root, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, text);
}

/** A sysfs/procfs tree of real files, laid out as Linux lays them out. */
function fakeRoot(machine: FakeMachine): string {
  const root = mkdtempSync(join(tmpdir(), 'streamsight-cpu-cores-'));
  made.push(root);
  const all = `0-${machine.cpus.length - 1}`;
  machine.cpus.forEach(([pkg, core], cpu) => {
    write(root, `sys/devices/system/cpu/cpu${cpu}/topology/physical_package_id`, `${pkg}\n`);
    write(root, `sys/devices/system/cpu/cpu${cpu}/topology/core_id`, `${core}\n`);
  });
  write(root, 'sys/devices/system/cpu/online', `${machine.online ?? all}\n`);
  write(root, 'proc/self/status', `Name:\tnode\nThreads:\t7\nCpus_allowed:\tff\nCpus_allowed_list:\t${machine.allowed ?? all}\nMems_allowed_list:\t0\n`);
  write(root, 'proc/self/cgroup', `0::${machine.cgroupPath ?? '/'}\n`);
  for (const [path, text] of Object.entries(machine.cpuMax ?? {})) write(root, join('sys/fs/cgroup', path, 'cpu.max'), `${text}\n`);
  return root;
}

/** 2 cores x 2 hyperthreads, numbered as Linux numbers them: siblings are cpuN and cpuN+2. */
const hyperthreaded4: Array<[number, number]> = [
  [0, 0],
  [0, 1],
  [0, 0],
  [0, 1],
];

describe('defaultInferenceThreads', () => {
  it('counts hyperthread siblings once: 4 logical CPUs on 2 physical cores give 2', () => {
    assert.equal(defaultInferenceThreads({ root: fakeRoot({ cpus: hyperthreaded4 }), platform: 'linux' }), 2);
  });

  it('counts the same core id on two packages as two cores', () => {
    const cpus: Array<[number, number]> = [
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
    ];
    assert.equal(defaultInferenceThreads({ root: fakeRoot({ cpus }), platform: 'linux' }), 4);
  });

  it('counts only the cores of the CPUs the process may run on (affinity)', () => {
    const cpus: Array<[number, number]> = Array.from({ length: 8 }, (_, cpu) => [0, cpu % 4] as [number, number]);
    // cpu0 and cpu4 are siblings of core 0, cpu1 of core 1: two cores.
    assert.equal(defaultInferenceThreads({ root: fakeRoot({ cpus, allowed: '0-1,4' }), platform: 'linux' }), 2);
    assert.equal(defaultInferenceThreads({ root: fakeRoot({ cpus, allowed: '3' }), platform: 'linux' }), 1);
  });

  it('ignores allowed CPUs that are offline (the mask may name every possible CPU)', () => {
    const cpus: Array<[number, number]> = [
      [0, 0],
      [0, 1],
    ];
    assert.equal(defaultInferenceThreads({ root: fakeRoot({ cpus, allowed: '0-127', online: '0-1' }), platform: 'linux' }), 2);
  });

  it('rounds a fractional cgroup quota up: 1.5 CPUs of 4 cores give 2', () => {
    const cpus: Array<[number, number]> = [
      [0, 0],
      [0, 1],
      [0, 2],
      [0, 3],
    ];
    assert.equal(defaultInferenceThreads({ root: fakeRoot({ cpus, cpuMax: { '/': '150000 100000' } }), platform: 'linux' }), 2);
  });

  it('does not cap for a quota of `max`', () => {
    const cpus: Array<[number, number]> = [
      [0, 0],
      [0, 1],
      [0, 2],
      [0, 3],
    ];
    assert.equal(defaultInferenceThreads({ root: fakeRoot({ cpus, cpuMax: { '/': 'max 100000' } }), platform: 'linux' }), 4);
  });

  it('applies the tightest quota of the process cgroup and its ancestors', () => {
    const cpus: Array<[number, number]> = Array.from({ length: 8 }, (_, cpu) => [0, cpu] as [number, number]);
    const cpuMax = { '/': 'max 100000', '/app': '300000 100000', '/app/worker': 'max 100000' };
    assert.equal(defaultInferenceThreads({ root: fakeRoot({ cpus, cgroupPath: '/app/worker', cpuMax }), platform: 'linux' }), 3);
  });

  it('never answers less than 1, even for a tiny quota', () => {
    assert.equal(defaultInferenceThreads({ root: fakeRoot({ cpus: hyperthreaded4, cpuMax: { '/': '1000 100000' } }), platform: 'linux' }), 1);
  });

  it('falls back to os.availableParallelism() where nothing is readable', () => {
    const empty = mkdtempSync(join(tmpdir(), 'streamsight-cpu-cores-empty-'));
    made.push(empty);
    assert.equal(defaultInferenceThreads({ root: empty, platform: 'linux' }), availableParallelism());
  });

  it('falls back to os.availableParallelism() when a CPU topology is missing', () => {
    const root = fakeRoot({ cpus: hyperthreaded4 });
    rmSync(join(root, 'sys/devices/system/cpu/cpu3/topology'), { recursive: true });
    assert.equal(defaultInferenceThreads({ root, platform: 'linux' }), availableParallelism());
  });

  it('falls back to os.availableParallelism() off Linux', () => {
    assert.equal(defaultInferenceThreads({ root: fakeRoot({ cpus: hyperthreaded4 }), platform: 'darwin' }), availableParallelism());
  });

  it('answers between 1 and os.availableParallelism() on this machine', () => {
    const threads = defaultInferenceThreads();
    assert.ok(Number.isInteger(threads), `${threads} is not an integer`);
    assert.ok(threads >= 1 && threads <= availableParallelism(), `${threads} outside 1..${availableParallelism()}`);
  });
});

describe('parseCpuList', () => {
  it('reads ranges and single CPUs', () => {
    assert.deepEqual(parseCpuList('0-3,8\n'), [0, 1, 2, 3, 8]);
    assert.deepEqual(parseCpuList('5'), [5]);
  });

  it('rejects what the kernel does not write', () => {
    assert.equal(parseCpuList('3-1'), undefined);
    assert.equal(parseCpuList('a,b'), undefined);
  });
});
