// The json and csv report records of an events block, and the Perfetto
// report's audit instants, written natively: the same bytes as
// report-bytes.ts's writePlainRecord and writeCsvRow and perfetto-report.ts's
// instants for the common records, stopping at anything those decode
// (non-ASCII text, floats, code objects, decisions, …) so the TypeScript
// side writes that record and calls again (native-report.ts).
#pragma once

#include <napi.h>

namespace hookscope {

// newNameTable() -> table: event name bytes -> their rendered bytes.
Napi::Value NewNameTable(const Napi::CallbackInfo& info);
// setName(table, nameBytes, rendered) -> whether it was kept (the table is bounded).
Napi::Value SetName(const Napi::CallbackInfo& info);
// writeRecords(format, src, offsets, from, out, outPos, table, owner, state[, texts, textAt]) -> stop reason;
// state[0] = next record index, state[1] = out position, state[2] = bytes needed. Html rows:
// texts[textAt[2i], textAt[2i + 1]) is code-load row i's arguments as a JSON string (-1: none).
Napi::Value WriteRecords(const Napi::CallbackInfo& info);
// writeRecordsAsync(same arguments) -> Promise<stop reason>: the same on the libuv thread pool.
// Bad arguments throw at once; malformed records reject. The arrays must be left alone, and the
// table takes no new name, until the promise settles.
Napi::Value WriteRecordsAsync(const Napi::CallbackInfo& info);
// writeInstants(src, from, out, outPos, table, pidText, originNs, first, state) -> stop reason;
// the Perfetto report's audit instants of the records from byte offset `from`, each whole or
// not at all. state[0] = next record offset, state[1] = out position, state[2] = bytes needed.
// With slices (newSliceTable()) and flows (Int32Array) after state, code loads are written too:
// state[3] = next flow id (in and out), state[4] = (source, flow id) pairs written to flows;
// stops with 4 at a code load whose slice is not in the table, 5 when flows is full.
Napi::Value WriteInstants(const Napi::CallbackInfo& info);
// newSliceTable() -> table: the Perfetto report's code-load slices by record bytes.
Napi::Value NewSliceTable(const Napi::CallbackInfo& info);
// setSlice(table, src, offset, head, tail, source) -> whether it was kept (the table is bounded).
Napi::Value SetSlice(const Napi::CallbackInfo& info);

}  // namespace hookscope
