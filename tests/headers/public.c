// tests/headers/public.c: every public header, compiled on its own terms by
// the ctest entry public_headers (C99, -pedantic-errors): an application
// built with strict flags must not be stopped by our headers.
#include <dts/capnp.h>
#include <dts/codec.h>
#include <dts/dts.h>
#include <dts/transport.h>
#include <dts/typed.h>
