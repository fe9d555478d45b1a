# reading.capnp: the schema tests/install/consumer_capnp.c is generated from
# by the installed capnpc-dts.
@0xc1f0e2d3a4b5c607;

struct Reading {
  tank @0 :Text;
  celsius @1 :Float64;
}
