/* The agent's intent matcher as a filter, for the parity test against the
 * inspector's evaluate() (main/core/policy/agent-parity.test.ts).
 * argv[1]: a compiled policy. stdin: one subject per line,
 *   class-bit TAB path TAB real-path TAB sha256-hex
 * stdout: one verdict per line: action TAB rule (-1 for the default). */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int main(int argc, char **argv) {
    if (argc != 2 || hs_policy_load_file(argv[1]) != 0) {
        fprintf(stderr, "usage: policy-judge COMPILED-POLICY (it must load)\n");
        return 2;
    }
    static char line[65536];
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n')
            line[--n] = 0;
        char *fields[4];
        char *p = line;
        for (int i = 0; i < 4; i++) {
            fields[i] = p;
            char *tab = strchr(p, '\t');
            if (i < 3) {
                if (!tab) {
                    fprintf(stderr, "bad line\n");
                    return 2;
                }
                *tab = 0;
                p = tab + 1;
            }
        }
        uint8_t sha[32] = {0};
        for (int i = 0; i < 32 && fields[3][2 * i]; i++)
            sha[i] = (uint8_t)(hexval(fields[3][2 * i]) << 4 | hexval(fields[3][2 * i + 1]));
        struct hs_intent_subject s = {(unsigned)atoi(fields[0]), fields[1], strlen(fields[1]),
                                      fields[2], strlen(fields[2]), sha, 0};
        struct hs_verdict v;
        hs_policy_judge_intent(&s, &v);
        printf("%u\t%d\n", v.action, v.rule == HS_NO_RULE ? -1 : (int)v.rule);
    }
    hs_policy_reset();
    return 0;
}
