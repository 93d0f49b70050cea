/** `opshift/tokenizers`: Hugging Face tokenizer.json tokenizers with streaming decode and chat templates. */
export * from './tokenizer.js';
