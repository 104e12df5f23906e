/*
 * read_card.c: read a social security card's basic information through libsscard,
 * falling back to the HSM steps when the terminal has no PSAM, as HIS code does.
 *
 *   gcc -Iinclude examples/c/read_card.c -Ltarget/release -lsscard -o read_card
 *   SSCARD_READER="ACS ACR39U" LD_LIBRARY_PATH=target/release ./read_card [HSM-COMMAND]
 *
 * HSM-COMMAND stands in for the provincial HSM service: it gets the Step 1 string as its
 * argument and prints the Step 2 key (the tests use target/release/sscard-test-hsm, a
 * soft HSM on the emulation test keys). Output: one "label: value" line per field.
 * Strings are GBK unless SSCARD_ENCODING=utf-8.
 */
#define _POSIX_C_SOURCE 200809L /* popen */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sscard.h"

static const char *const LABELS[] = {
    "region code", "social security number", "card number", "card identification code",
    "name", "ATR historical bytes", "spec version", "issue date", "expiry date",
    "terminal number", "device number",
};

/* The codes after which applications use the HSM path (spec/sscard.md §4.5). */
static int wants_hsm(long rc) {
    return rc == SSCARD_E_NO_PSAM || rc == SSCARD_E_PSAM_ALGORITHM ||
           rc == SSCARD_E_PSAM_NO_RKSSSE || rc == -27272 || rc == SSCARD_E_KEY_LEVEL;
}

/* Runs the HSM command with the Step 1 string; its first output line into key. */
static int ask_hsm(const char *command, const char *step1, char *key, size_t size) {
    char line[2048];
    FILE *p;
    if (snprintf(line, sizeof line, "%s '%s'", command, step1) >= (int)sizeof line) return -1;
    p = popen(line, "r");
    if (!p) return -1;
    if (!fgets(key, (int)size, p)) key[0] = '\0';
    if (pclose(p) != 0) return -1;
    key[strcspn(key, "\r\n")] = '\0';
    return key[0] ? 0 : -1;
}

int main(int argc, char **argv) {
    char out[1024]; /* the customary buffer size of the legacy functions */
    char key[256];
    long rc = iReadCardBas(3, out); /* 3: contact first, then contactless */
    if (wants_hsm(rc) && argc > 1) {
        fprintf(stderr, "iReadCardBas: %ld (%s); using the HSM steps\n", rc, out);
        rc = iReadCardBas_HSM_Step1(3, out);
        if (rc == 0) {
            if (ask_hsm(argv[1], out, key, sizeof key) != 0) {
                fprintf(stderr, "the HSM did not answer\n");
                return 2;
            }
            rc = iReadCardBas_HSM_Step2(key, out);
        }
    }
    if (rc != 0) {
        fprintf(stderr, "failed: %ld: %s\n", rc, out);
        return 1;
    }
    {
        char *field = out;
        size_t i;
        for (i = 0; i < sizeof LABELS / sizeof LABELS[0]; i++) {
            char *bar = strchr(field, '|');
            if (!bar) break;
            *bar = '\0';
            printf("%s: %s\n", LABELS[i], field);
            field = bar + 1;
        }
    }
    return 0;
}
