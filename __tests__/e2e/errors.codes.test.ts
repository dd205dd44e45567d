/**
 * Error codes are defined once, in Rust (`ErrorCode` in crates/tasker-orchestration/src/error.rs).
 * The TypeScript list (`NATIVE_ERROR_CODES`, whose union types `fromNativeError`'s table) must
 * hold exactly the codes the real addon exports: adding a code on one side only fails here.
 */
import { TaskerError, fromNativeError } from '../../src/index';
import { NATIVE_ERROR_CODES, native } from '../../src/native';

describe('native error codes', () => {
  it('the TypeScript list holds exactly the codes the addon defines, each once', () => {
    const rust = native().errorCodes();
    expect(new Set(rust).size).toBe(rust.length);
    expect(new Set(NATIVE_ERROR_CODES).size).toBe(NATIVE_ERROR_CODES.length);
    expect([...NATIVE_ERROR_CODES].sort()).toEqual([...rust].sort());
  });

  it.each(native().errorCodes())('[%s] becomes a TaskerError carrying that code', (code) => {
    const original = new Error(`[${code}] something named went wrong`);
    const converted = fromNativeError(original);
    expect(converted).toBeInstanceOf(TaskerError);
    expect((converted as TaskerError).code).toBe(code);
    expect(converted.message).toBe('something named went wrong');
    expect(converted.cause).toBe(original);
  });
});
