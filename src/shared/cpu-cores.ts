/**
 * How many intra-op threads inference gets when the user leaves the choice
 * to us (`model.threads` 0). ONNX Runtime's own default is one thread per
 * physical core, but its core detection fails on some VMs (a 2-core AMD EPYC
 * guest got one thread: resnet50 batch 8 took 392 ms instead of 206 ms), and
 * it ignores a container's CPU quota. So StreamSight counts the cores itself
 * and passes the number explicitly.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

export interface CpuCoresOptions {
  /**
   * Directory that stands in for `/`: sysfs and procfs are read below it
   * (`<root>/sys/devices/system/cpu`, `<root>/proc/self/status`,
   * `<root>/proc/self/cgroup`, `<root>/sys/fs/cgroup`). Default `/`; a test
   * points it at a fake tree.
   */
  root?: string;
  /** Default `process.platform`; only `linux` is read, anything else falls back. */
  platform?: NodeJS.Platform;
}

/**
 * One per distinct physical core (package id + core id) among the online
 * CPUs this process may run on, capped by the cgroup v2 CPU quota
 * (ceil(quota / period)), at least 1. Where the topology cannot be read (not
 * Linux, files missing), the logical CPU count `os.availableParallelism()`
 * stands in for the core count; the quota still caps it.
 */
export function defaultInferenceThreads(options: CpuCoresOptions = {}): number {
  const root = options.root ?? '/';
  const platform = options.platform ?? process.platform;
  if (platform !== 'linux') return availableParallelism();
  const cores = physicalCores(root) ?? availableParallelism();
  const quota = cgroupCpuLimit(root);
  return Math.max(1, quota === undefined ? cores : Math.min(cores, quota));
}

/** Distinct physical cores among the CPUs this process may use; undefined when any of it is unreadable. */
function physicalCores(root: string): number | undefined {
  const status = readText(join(root, 'proc/self/status'));
  const allowedLine = status?.split('\n').find((line) => line.startsWith('Cpus_allowed_list:'));
  const allowed = allowedLine === undefined ? undefined : parseCpuList(allowedLine.slice('Cpus_allowed_list:'.length));
  if (allowed === undefined || allowed.length === 0) return undefined;
  // The affinity mask may name every possible CPU (0-127 on a 2-CPU guest); an offline one has no topology.
  const onlineText = readText(join(root, 'sys/devices/system/cpu/online'));
  const online = onlineText === undefined ? undefined : parseCpuList(onlineText);
  const usable = online === undefined ? allowed : allowed.filter((cpu) => online.includes(cpu));
  const cores = new Set<string>();
  for (const cpu of usable) {
    const topology = join(root, 'sys/devices/system/cpu', `cpu${cpu}`, 'topology');
    const pkg = readText(join(topology, 'physical_package_id'))?.trim();
    const core = readText(join(topology, 'core_id'))?.trim();
    if (!pkg || !core) return undefined;
    // Hyperthread siblings share both ids; core ids repeat across packages.
    cores.add(`${pkg}:${core}`);
  }
  return cores.size > 0 ? cores.size : undefined;
}

/**
 * The tightest cgroup v2 CPU limit on this process, in whole CPUs (rounded
 * up: 1.5 CPUs of quota still keeps 2 threads busy part of the time), from
 * `cpu.max` of its own cgroup and every ancestor; undefined when none is set
 * or none is readable. `max 100000` means no limit.
 */
function cgroupCpuLimit(root: string): number | undefined {
  const cgroupRoot = join(root, 'sys/fs/cgroup');
  // cgroup v2's line is `0::/path`; inside a container with its own cgroup namespace it is `0::/`.
  const v2Line = readText(join(root, 'proc/self/cgroup'))
    ?.split('\n')
    .find((line) => line.startsWith('0::'));
  const parts = (v2Line?.slice(3).trim() ?? '/').split('/').filter((p) => p !== '' && p !== '..');
  let limit: number | undefined;
  for (let depth = parts.length; depth >= 0; depth--) {
    const cpus = parseCpuMax(readText(join(cgroupRoot, ...parts.slice(0, depth), 'cpu.max')));
    if (cpus !== undefined) limit = limit === undefined ? cpus : Math.min(limit, cpus);
  }
  return limit;
}

/** `200000 100000` -> 2, `150000 100000` -> 2, `max 100000` -> undefined. */
function parseCpuMax(text: string | undefined): number | undefined {
  const [quota, period] = (text ?? '').trim().split(/\s+/);
  if (quota === undefined || quota === 'max' || period === undefined) return undefined;
  const q = Number(quota);
  const p = Number(period);
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return undefined;
  return Math.ceil(q / p);
}

/** A kernel CPU list (`0-3,8`) as CPU numbers; undefined when malformed. */
export function parseCpuList(text: string): number[] | undefined {
  const cpus: number[] = [];
  const trimmed = text.trim();
  if (trimmed === '') return [];
  for (const range of trimmed.split(',')) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(range.trim());
    if (!match) return undefined;
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (last < first) return undefined;
    for (let cpu = first; cpu <= last; cpu++) cpus.push(cpu);
  }
  return cpus;
}

/** The file's text; undefined when it cannot be read (missing, not permitted), the one case every caller falls back on. */
function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof Error && 'code' in err && typeof err.code === 'string') return undefined;
    throw err;
  }
}
