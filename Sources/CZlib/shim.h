#ifndef FLASHPUSH_CZLIB_SHIM_H
#define FLASHPUSH_CZLIB_SHIM_H
#include <zlib.h>

// zlib's init functions are macros that pass the library version and struct size:
// these wrappers give Swift callable functions. windowBits 15 + 16 selects the gzip format.

/// Starts a gzip-format deflate stream at `level` (0...9, or -1 for the default).
static inline int fp_deflate_init_gzip(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

/// Starts an inflate stream that accepts the gzip format only.
static inline int fp_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 15 + 16);
}
#endif
