import { fromNativeError } from '../errors/from-native-error';

/** Run an async native call, converting whatever it throws or rejects with (`fromNativeError`). */
export async function callNative<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw fromNativeError(err);
  }
}

/** Run a synchronous native call, converting whatever it throws (`fromNativeError`). */
export function callNativeSync<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    throw fromNativeError(err);
  }
}
