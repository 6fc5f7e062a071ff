/* The calling thread's Python stack, for decisions and asks (not for every
 * event: walking frames costs far more than recording one). */
#ifndef HOOKSCOPE_STACK_H
#define HOOKSCOPE_STACK_H

#include "encode.h"

/* Frames kept, innermost first. */
#define HS_STACK_DEPTH 16

/* Writes the stack as one value (docs/protocol.md, "Stacks"): a tuple of
 * frames, innermost first, each (file name, function name, line, module
 * name or None). Returns 0, or -1 when there is no Python frame or no room
 * (nothing written). Call with the GIL held; runs no Python code that is
 * not CPython's own and leaves no error set. */
int hs_stack_encode(struct hs_out *out);

/* The module the calling code comes from: `__name__` of the innermost
 * frame that is not Python's own machinery (importlib, frozen code) or the
 * standard library (files under .../lib/python3.X/ but not its
 * site-packages or dist-packages). The same rule as the inspector's
 * stack-origin.ts. Writes its UTF-8 name into `out` (cut to `cap - 1`,
 * NUL-terminated) and returns its length, or -1 when there is none.
 * Call with the GIL held. */
int hs_stack_origin(char *out, size_t cap);

#endif
