// The system's libzstd (Debian: libzstd-dev), for the zstd stages of the snapshot pipeline.
#include <zstd.h>
