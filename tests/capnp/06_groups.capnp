# Groups, a union inside a group, a group inside a union.
@0xc6a1e2f3a4b5c606;
struct Root {
  pos :group { lat @0 :Float64; lon @1 :Float64; alt @2 :Float32 = 100; }
  meta :group {
    name @3 :Text;
    kind :union {
      sensor @4 :UInt16;
      actuator :group { channel @5 :UInt8; range @6 :List(Int16); }
      unknown @7 :Void;
    }
  }
  count @8 :UInt64;
}
