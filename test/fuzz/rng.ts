/**
 * The fuzz suites' random source: mulberry32 (the same seeded generator `bench serve` uses for its disconnect
 * pattern), small, fast and the same sequence on every platform for a seed, so a printed seed replays a failure
 * exactly.
 */
export { seededRandom as rng } from '../../tools/bench_serve_stats.js';
