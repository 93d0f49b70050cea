/** Backend discovery: an explicit list, registered once. Unavailable backends are listed with their reason. */
import { hasBackend, registerBackend } from '../core/registry.js';
import { cpuBackend } from './cpu/backend.js';
import { registerCpu } from './cpu/register.js';
import { registerOrt } from './ort/register.js';
import { registerNpu } from './npu/register.js';
import { registerWasm } from './wasm/register.js';
import { registerNative } from './native/register.js';

let done = false;

export function registerDefaultBackends(): void {
  if (done) return;
  done = true;
  if (!hasBackend(cpuBackend.name)) {
    registerBackend(cpuBackend);
    registerCpu();
  }
  if (!hasBackend('ort')) registerOrt();
  if (!hasBackend('wasm')) registerWasm();
  if (!hasBackend('npu')) registerNpu();
  if (!hasBackend('native')) registerNative();
}
