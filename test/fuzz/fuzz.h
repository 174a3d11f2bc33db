/* Shared by the libFuzzer targets test/fuzz/fuzz_*.c: the entry point's
 * prototype (the targets are built with -Wmissing-prototypes) and the check
 * that turns a broken contract into a crash libFuzzer reports. */
#ifndef OTB_FUZZ_H
#define OTB_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)   \
    do {                   \
        if (!(cond))       \
            abort();       \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
