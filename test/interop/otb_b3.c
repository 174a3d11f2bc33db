/* otb_b3: BLAKE3 of stdin with common/otb_blake3.c, printed like
 * `b3sum --no-names [--derive-key CONTEXT]`, for t_blake3.sh to compare
 * the two on random inputs. Usage: otb_b3 [--derive-key CONTEXT] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otb_blake3.h"

int main(int argc, char **argv)
{
    size_t len = 0, cap = 1 << 16;
    uint8_t *in = malloc(cap), out[OTB_BLAKE3_OUT_LEN];
    size_t n;

    if (argc != 1 && !(argc == 3 && strcmp(argv[1], "--derive-key") == 0)) {
        fprintf(stderr, "usage: otb_b3 [--derive-key CONTEXT] < input\n");
        return 2;
    }
    while (in && (n = fread(in + len, 1, cap - len, stdin)) > 0) {
        len += n;
        if (len == cap)
            in = realloc(in, cap *= 2);
    }
    if (!in)
        return 1;
    if (argc == 3)
        otb_blake3_derive_key(argv[2], in, len, out, sizeof(out));
    else
        otb_blake3_hash(in, len, out, sizeof(out));
    for (size_t i = 0; i < sizeof(out); i++)
        printf("%02x", out[i]);
    printf("\n");
    free(in);
    return 0;
}
