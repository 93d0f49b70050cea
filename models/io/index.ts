/**
 * `opshift/io`: safetensors (validating lazy reader, writer), Hugging Face checkpoint folders (single and
 * sharded), the hub cache and downloads, NumPy .npy output.
 */
export * from './safetensors.js';
export * from './checkpoint.js';
export * from './hub.js';
export * from './npy.js';
