/* Fuzz target: the front's request head classifier (webapp/head.c). Any
 * input: no crash, no read past size; a head it accepts lies within the
 * input, ends with the empty line, and is still accepted when cut there. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webapp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1); /* exact size: ASan sees any overread */
    size_t hl = 0, hl2 = 0;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    if (head_classify(copy, size, &hl) == HEAD_STREAM_PRICES) {
        if (hl < 4 || hl > size || memcmp(copy + hl - 4, "\r\n\r\n", 4) != 0)
            abort();
        if (head_classify(copy, hl, &hl2) != HEAD_STREAM_PRICES || hl2 != hl)
            abort();
    }
    free(copy);
    return 0;
}
