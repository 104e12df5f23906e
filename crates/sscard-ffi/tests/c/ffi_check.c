/*
 * ffi_check.c: the end-to-end checks of libsscard from C (tools/e2e/ffi.sh), against
 * the emulated sample card in a vpcd reader of a private pcscd.
 *
 *   ffi_check basic VERSION DEVICE      iReadCardBas(1, buf): every field
 *   ffi_check hsm HSM-COMMAND DEVICE    -2201, then Step 1 -> HSM-COMMAND -> Step 2
 *   ffi_check pin PIN-FILE              iVerifyPIN with the PIN from PIN-FILE, and iVerifyPin
 *   ffi_check pinhsm HSM-COMMAND PIN-FILE  iReloadPIN_HSM_Step1..3 through HSM-COMMAND
 *                                       (the PIN from PIN-FILE), then the new PIN verifies
 *   ffi_check psam DEVICE TERMINAL      3.0 card through the PSAM (SSCARD_PSAM_READER):
 *                                       iReadCardBas with the PSAM's terminal number,
 *                                       iGetReaderInfo
 *
 * Prints "ok ..." / "FAIL ..." lines and "N passed, M failed"; exits 0 only if M is 0.
 */
#define _POSIX_C_SOURCE 200809L /* popen */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sscard.h"

static int passed, failed;

/* 发卡地区行政区划代码|卡复位信息|算法标识|卡识别码 (start) of the 3.0 SM4 sample card. */
#define STEP1_HEAD "330100|00815353433300001234567890|03|330100D1"

static void check(int ok, const char *what, const char *got) {
    if (ok) {
        passed++;
        printf("ok   C: %s\n", what);
    } else {
        failed++;
        printf("FAIL C: %s (got \"%s\")\n", what, got ? got : "");
    }
}

/* The sample card (apdu-specs/images/sample.json); 李测试 in GBK. */
static void check_fields(const char *out, const char *version, const char *device,
                         const char *terminal) {
    const char *want[11] = {
        "330100", "330102199003071230", "A12345678", "330100D15600000500A1B2C3D4E5F607",
        "\xC0\xEE\xB2\xE2\xCA\xD4", "00815353433300001234567890", version, "20240315",
        "20340315", terminal, device,
    };
    static const char *const names[11] = {
        "发卡地区行政区划代码", "社会保障号码", "卡号", "卡识别码", "姓名 (GBK)",
        "卡复位信息", "规范版本", "发卡日期", "卡有效期", "终端机编号", "终端设备号",
    };
    char copy[1024], what[128];
    char *field = copy;
    int i;
    strncpy(copy, out, sizeof copy - 1);
    copy[sizeof copy - 1] = '\0';
    for (i = 0; i < 11; i++) {
        char *bar = strchr(field, '|');
        snprintf(what, sizeof what, "field %d %s", i + 1, names[i]);
        if (!bar) {
            check(0, what, "missing");
            return;
        }
        *bar = '\0';
        check(strcmp(field, want[i]) == 0, what, field);
        field = bar + 1;
    }
    check(*field == '\0', "nothing after the trailing |", field);
}

static void write_pin(const char *path, const char *pin) {
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    fprintf(f, "%s\n", pin);
    fclose(f);
}

int main(int argc, char **argv) {
    char out[1024], key[256], cmd[2048], what[160];
    long rc;
    if (argc < 3) {
        fprintf(stderr, "usage: ffi_check basic VERSION DEVICE | hsm CMD DEVICE | pin FILE\n");
        return 2;
    }
    memset(out, 0xAA, sizeof out);
    if (strcmp(argv[1], "basic") == 0 && argc == 4) {
        rc = iReadCardBas(1, out);
        snprintf(what, sizeof what, "iReadCardBas(1, buf) = %ld", rc);
        check(rc == 0, what, out);
        if (rc == 0) check_fields(out, argv[2], argv[3], "000000000000");
    } else if (strcmp(argv[1], "hsm") == 0 && argc == 4) {
        FILE *p;
        rc = iReadCardBas(1, out);
        snprintf(what, sizeof what, "3.0 card without PSAM: iReadCardBas = %ld (want -2201)", rc);
        check(rc == SSCARD_E_NO_PSAM, what, out);
        rc = iReadCardBas_HSM_Step1(1, out);
        snprintf(what, sizeof what, "iReadCardBas_HSM_Step1 = %ld", rc);
        check(rc == 0, what, out);
        check(strncmp(out, STEP1_HEAD, strlen(STEP1_HEAD)) == 0,
              "Step 1 string starts with region, ATR history, 03, card id", out);
        snprintf(cmd, sizeof cmd, "%s '%s'", argv[2], out);
        p = popen(cmd, "r");
        key[0] = '\0';
        if (p) {
            if (!fgets(key, sizeof key, p)) key[0] = '\0';
            pclose(p);
        }
        key[strcspn(key, "\r\n")] = '\0';
        check(strlen(key) == 66, "the test HSM answered <32 hex>|<32 hex>|", key);
        rc = iReadCardBas_HSM_Step2(key, out);
        snprintf(what, sizeof what, "iReadCardBas_HSM_Step2 = %ld", rc);
        check(rc == 0, what, out);
        if (rc == 0) check_fields(out, "3.00", argv[3], "000000000000");
        rc = iReadCardBas_HSM_Step2(key, out);
        check(rc == SSCARD_E_PARAM, "Step 2 without Step 1 is -14", out);
    } else if (strcmp(argv[1], "pinhsm") == 0 && argc == 4) {
        static const char info[] = "330100D15600000500A1B2C3D4E5F607|A12345678|";
        static const char hist[] = "00815353433300001234567890";
        static const char card_id[] = "330100D15600000500A1B2C3D4E5F607";
        char answer[256];
        FILE *p;
        write_pin(argv[3], "000000");
        rc = iVerifyPIN(1, out);
        check(rc == SSCARD_E_PIN_WRONG, "a wrong PIN before the reload (-51)", out);
        /* The PIN source gives the new PIN twice. */
        {
            FILE *f = fopen(argv[3], "w");
            if (!f) return 2;
            fprintf(f, "654321\n654321\n");
            fclose(f);
        }
        rc = iReloadPIN_HSM_Step1(1, info, out);
        snprintf(what, sizeof what, "iReloadPIN_HSM_Step1 = %ld", rc);
        check(rc == 0, what, out);
        snprintf(cmd, sizeof cmd, "%s pin1 '%s' %s %s", argv[2], out, card_id, hist);
        p = popen(cmd, "r");
        answer[0] = '\0';
        if (p) {
            if (!fgets(answer, sizeof answer, p)) answer[0] = '\0';
            pclose(p);
        }
        answer[strcspn(answer, "\r\n")] = '\0';
        rc = iReloadPIN_HSM_Step2(answer, out);
        snprintf(what, sizeof what, "iReloadPIN_HSM_Step2 = %ld", rc);
        check(rc == 0, what, out);
        check(strstr(out, "|8424000114|654321|") != NULL, "Step 2 string: SM4 header and the new PIN", out);
        snprintf(cmd, sizeof cmd, "%s pin2 '%s' %s %s", argv[2], out, card_id, hist);
        p = popen(cmd, "r");
        answer[0] = '\0';
        if (p) {
            if (!fgets(answer, sizeof answer, p)) answer[0] = '\0';
            pclose(p);
        }
        answer[strcspn(answer, "\r\n")] = '\0';
        check(strlen(answer) == 40, "the test HSM answered 20 bytes (PIN block and MAC)", answer);
        rc = iReloadPIN_HSM_Step3(answer, out);
        snprintf(what, sizeof what, "iReloadPIN_HSM_Step3 = %ld", rc);
        check(rc == 0, what, out);
        rc = iVerifyPin(1, "654321", out);
        snprintf(what, sizeof what, "the reloaded PIN verifies: %ld", rc);
        check(rc == 0, what, out);
    } else if (strcmp(argv[1], "psam") == 0 && argc == 4) {
        char sn[1024], term[1024];
        rc = iReadCardBas(1, out);
        snprintf(what, sizeof what, "3.0 card through the PSAM: iReadCardBas = %ld (want 0)", rc);
        check(rc == 0, what, out);
        if (rc == 0) check_fields(out, "3.00", argv[2], argv[3]);
        rc = iGetReaderInfo(sn, term);
        snprintf(what, sizeof what, "iGetReaderInfo = %ld, PSAM terminal number %s", rc, argv[3]);
        check(rc == 0 && strcmp(term, argv[3]) == 0, what, term);
        rc = iReadCardBas(1, out);
        snprintf(what, sizeof what, "a second read reuses the open PSAM: %ld", rc);
        check(rc == 0, what, out);
    } else if (strcmp(argv[1], "pin") == 0) {
        write_pin(argv[2], "000000");
        rc = iVerifyPIN(1, out);
        snprintf(what, sizeof what, "iVerifyPIN wrong PIN = %ld (want -51)", rc);
        check(rc == SSCARD_E_PIN_WRONG, what, out);
        check(strstr(out, ":5") != NULL, "the message gives 5 tries left", out);
        write_pin(argv[2], "123456");
        rc = iVerifyPIN(1, out);
        snprintf(what, sizeof what, "iVerifyPIN right PIN = %ld (want 0)", rc);
        check(rc == 0, what, out);
        rc = iVerifyPin(1, "111111", out);
        snprintf(what, sizeof what, "iVerifyPin(\"111111\") = %ld (want -51)", rc);
        check(rc == SSCARD_E_PIN_WRONG, what, out);
        rc = iVerifyPin(1, "123456", out);
        snprintf(what, sizeof what, "iVerifyPin(\"123456\") = %ld (want 0)", rc);
        check(rc == 0, what, out);
    } else {
        fprintf(stderr, "ffi_check: bad arguments\n");
        return 2;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
