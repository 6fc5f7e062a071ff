/* Baseline for bench/agent-cost.ts: the cheapest possible C audit hook,
 * registered the same way the agent registers its own (preloaded, before
 * Py_Initialize). */
#include <dlfcn.h>
#include <stdlib.h>

typedef int (*audit_hook_fn)(const char *, void *, void *);

static int noop_hook(const char *event, void *args, void *data) { return 0; }

__attribute__((constructor)) static void noop_load(void) {
    int (*add)(audit_hook_fn, void *) = (int (*)(audit_hook_fn, void *))dlsym(RTLD_DEFAULT, "PySys_AddAuditHook");
    int (*initialized)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsInitialized");
    if (add && initialized && !initialized())
        add(noop_hook, NULL);
}
