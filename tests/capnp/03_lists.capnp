# Lists of every element size.
@0xc6a1e2f3a4b5c603;
struct Root {
  lv @0 :List(Void);
  lb @1 :List(Bool);
  l8 @2 :List(Int8);
  l16 @3 :List(UInt16);
  l32 @4 :List(Int32);
  lf32 @5 :List(Float32);
  l64 @6 :List(UInt64);
  lf64 @7 :List(Float64);
  lt @8 :List(Text);
  ld @9 :List(Data);
  ll @10 :List(List(Int32));
  lll @11 :List(List(List(Bool)));
}
