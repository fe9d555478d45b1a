# Unnamed and named unions with members of every kind.
@0xc6a1e2f3a4b5c605;
struct Inner { a @0 :UInt8; s @1 :Text; }
struct Root {
  id @0 :UInt32;
  union {
    none @1 :Void;
    num @2 :Int64;
    text @3 :Text;
    inner @4 :Inner;
    list @5 :List(Inner);
    flag @6 :Bool;
  }
  shape :union {
    circle @7 :Float64;
    square @8 :Float32;
    poly @9 :List(Float64);
  }
  tail @10 :Text;
}
