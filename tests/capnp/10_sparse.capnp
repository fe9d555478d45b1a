# Many fields, mostly unset: canonical form truncates trailing zero data
# words and null pointers; old and new readers see different sizes.
@0xc6a1e2f3a4b5c610;
struct Wide {
  a @0 :UInt64; b @1 :UInt64; c @2 :UInt64; d @3 :UInt64;
  p0 @4 :Text; p1 @5 :Text; p2 @6 :Text; p3 @7 :Data;
}
struct Root {
  w @0 :Wide;
  ws @1 :List(Wide);
  first @2 :UInt8;
  last @3 :UInt64;
}
