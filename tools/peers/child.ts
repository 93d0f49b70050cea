/**
 * One benchmark child process: bounded by a timeout, its output collected, and its peak resident set measured
 * from outside. Every configuration of `bench compare` runs in its own process so that the peak RSS and the cold
 * first token belong to that configuration alone, whatever ran before it.
 *
 * Peak RSS is VmHWM from /proc/<pid>/status (the kernel's high-water mark of the resident set), polled while the
 * child runs: a high-water mark only grows, so any read after the peak returns it; only growth in the last poll
 * interval before exit could be missed. Node cannot read a child's rusage (no wait4), and /usr/bin/time is not
 * everywhere, hence the polling. Off Linux (no /proc) the figure is undefined.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ChildRun {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly wallMs: number;
  readonly timedOut: boolean;
  /** VmHWM of the child in MiB, or undefined when /proc could not be read. */
  readonly peakRssMiB: number | undefined;
}

export interface ChildOptions {
  readonly timeoutMs: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string;
  readonly cwd?: string;
  /** Poll period of VmHWM (default 50 ms). */
  readonly pollMs?: number;
}

/** VmHWM of a live process in KiB, or undefined (exited, not Linux). */
export function vmHwmKiB(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function runChild(cmd: string, args: readonly string[], o: ChildOptions): Promise<ChildRun> {
  return new Promise((resolve) => {
    const start = performance.now();
    const child = spawn(cmd, args, { env: o.env ?? process.env, cwd: o.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peak: number | undefined;
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const poll = () => {
      if (child.pid === undefined) return;
      const v = vmHwmKiB(child.pid);
      if (v !== undefined) peak = Math.max(peak ?? 0, v);
    };
    const timer = setInterval(poll, o.pollMs ?? 50);
    const killer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs);
    child.on('error', (e) => {
      stderr += `${cmd}: ${e.message}\n`;
    });
    // 'exit' can come before the pipes drain; 'close' comes after both.
    child.on('close', (status, signal) => {
      clearInterval(timer);
      clearTimeout(killer);
      resolve({ status, signal, stdout, stderr, wallMs: performance.now() - start, timedOut, peakRssMiB: peak === undefined ? undefined : peak / 1024 });
    });
    if (o.input !== undefined) child.stdin.end(o.input);
    else child.stdin.end();
  });
}

/**
 * The line of a child's output that says why it failed: the last line naming an error (a Node crash ends with
 * its stack and "Node.js v20…", the message is above them), else the last non-empty line.
 */
export function lastLine(text: string): string {
  const lines = text.trim().split('\n').map((l) => l.trim()).filter(Boolean);
  const named = lines.filter((l) => /^(\w*Error\b|error\b|Traceback)|\b\w*Error: /.test(l) && !l.startsWith('at '));
  return named[named.length - 1] ?? lines[lines.length - 1] ?? '';
}

/** Why a child run failed, or undefined when it exited 0. */
export function failureOf(name: string, r: ChildRun, timeoutMs: number): string | undefined {
  if (r.timedOut) return `${name} exceeded its ${Math.round(timeoutMs / 1000)} s timeout`;
  if (r.status === 0) return undefined;
  const why = lastLine(r.stderr) || lastLine(r.stdout);
  return `${name} exited with ${r.signal ?? `status ${r.status}`}${why ? `: ${why}` : ''}`;
}
