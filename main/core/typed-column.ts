// A growable column of numbers in a typed array: what the session index
// keeps per event. A million events in typed arrays are a few flat buffers
// the garbage collector never walks, where plain arrays are heap objects it
// scans on every major collection.

type TypedArray = Uint8Array | Uint32Array | Float64Array;
type TypedArrayOf<K extends ColumnKind> = K extends 'u8'
  ? Uint8Array
  : K extends 'u32'
    ? Uint32Array
    : Float64Array;
export type ColumnKind = 'u8' | 'u32' | 'f64';

const INITIAL_CAPACITY = 1024;

export class TypedColumn<K extends ColumnKind> {
  /** The values; only the first `length` are in use. Replaced when it grows. */
  data: TypedArrayOf<K>;
  length = 0;

  constructor(private readonly kind: K) {
    this.data = allocate(kind, INITIAL_CAPACITY) as TypedArrayOf<K>;
  }

  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = allocate(this.kind, this.data.length * 2) as TypedArrayOf<K>;
      bigger.set(this.data as never);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }

  /** The values in use, as a view (no copy). */
  view(): TypedArrayOf<K> {
    return this.data.subarray(0, this.length) as TypedArrayOf<K>;
  }
}

function allocate(kind: ColumnKind, size: number): TypedArray {
  switch (kind) {
    case 'u8':
      return new Uint8Array(size);
    case 'u32':
      return new Uint32Array(size);
    case 'f64':
      return new Float64Array(size);
  }
}
