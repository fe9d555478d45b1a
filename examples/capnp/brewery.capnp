# brewery.capnp: the sake brewery's types as a Cap'n Proto schema, for the
# example sensor and logger (examples/capnp/) built on capnpc-dts output.
@0xd7e5a1b2c3f40801;

struct Temperature {
  tank @0 :Text;
  celsius @1 :Float64;
}

struct Gravity {
  tank @0 :Text;
  sg @1 :Float64;
}

struct Setpoint {
  tank @0 :Text;
  celsius @1 :Float64;
  mode :union {
    auto @2 :Void;
    manual @3 :Text;   # who set it
  }
}
