/**
 * The eager path's fixed cost (issue #16): entering the same withBackend / withPolicy scope again gives the same
 * policy version, so the op's candidate list is not rebuilt per call; a different scope, or setPolicy /
 * setPriority anywhere, still changes the list.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Add, DECOMPOSE, randn, setPolicy, setPriority, withBackend, withPolicy } from '../core/index.js';
import { policyVersionKey } from '../core/policy.js';

afterEach(() => {
  setPolicy({});
  setPriority(undefined);
});

const x = randn([1, 8]);

describe('candidate cache across repeated scopes', () => {
  it('re-entering an identical scope reuses the op’s cached candidate list', () => {
    withBackend('cpu', () => x.add(x));
    const cached = Add.cache;
    const v = withBackend('cpu', () => policyVersionKey());
    withBackend('cpu', () => x.add(x));
    expect(Add.cache).toBe(cached);
    expect(withBackend('cpu', () => policyVersionKey())).toBe(v);
    expect(cached!.list[0]).toEqual({ backend: 'cpu', cause: 'override' });
    // Nested identical scopes are one state too; a policy object is keyed by identity.
    const pol = { Add: 'cpu' } as const;
    const nested = () => withPolicy(pol, () => withBackend('cpu', () => policyVersionKey()));
    expect(nested()).toBe(nested());
  });

  it('another scope, leaving the scope, or a global change gives another list', () => {
    const inCpu = withBackend('cpu', () => policyVersionKey());
    expect(withBackend([DECOMPOSE, 'cpu'], () => policyVersionKey())).not.toBe(inCpu);
    expect(withBackend('cpu', () => policyVersionKey(), { fallback: false })).not.toBe(inCpu);
    expect(policyVersionKey()).not.toBe(inCpu);
    const r = withBackend([DECOMPOSE, 'cpu'], () => x.add(x));
    expect(r.tolist()).toEqual(x.add(x).tolist());
    expect(Add.cache!.list[0]!.cause).not.toBe('override'); // the outside call rebuilt the default list
    // setPolicy inside a scope: the scope's own state and the outer one both get new versions.
    const before = policyVersionKey();
    withBackend('cpu', () => {
      const v1 = policyVersionKey();
      setPolicy({ Add: DECOMPOSE });
      expect(policyVersionKey()).not.toBe(v1);
    });
    expect(policyVersionKey()).not.toBe(before);
    expect(Add.cache!.list.some((c) => c.cause === 'policy')).toBe(false); // not rebuilt yet
    x.add(x);
    expect(Add.cache!.list[0]).toEqual({ backend: DECOMPOSE, cause: 'policy' });
  });
});
