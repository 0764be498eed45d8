// The system's zlib (Debian: zlib1g-dev), for the gzip and zip stages of the snapshot pipeline.
#include <zlib.h>
